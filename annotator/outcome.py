"""What a calibration found: typed results that the report, the CLI and the flows read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from annotator.metrics import Agreement

__all__ = [
    "CalibrationOutcome",
    "CascadeEvaluation",
    "Gate",
    "PreviousRound",
    "TierEvaluation",
]


@dataclass
class TierEvaluation:
    """One tier on its test pairs: agreement before and after calibration, and its cost."""

    name: str
    model_id: str
    isotonic: dict[str, Any] | None
    decider: dict[str, Any]
    pairs: dict[str, int]  # calibration and test pairs this tier graded
    raw: Agreement  # the argmax of its own distribution
    calibrated: Agreement  # calibrated and decided for the objective
    qwk_interval: tuple[float, float] | None
    exact_interval: tuple[float, float] | None
    confusion: list[list[int]]
    reliability_before: dict[str, Any]
    reliability_after: dict[str, Any]
    coverage_curve: list[dict[str, float]]
    seconds_per_1k: float
    tokens_in_per_1k: float
    tokens_out_per_1k: float
    cost: float
    failures: int
    model_calls: int
    cache_hits: int
    cv_score: float = 0.0  # alone, out of fold on the calibration split
    cv_score_human: float | None = None  # the same on the pairs a person graded only
    bypassed: str = ""  # why it is not in the route ("" when it is)
    flip_rate: float | None = None
    flip_interval: tuple[float, float] | None = None  # Wilson 95%, over ``flip_attacks``
    flip_attacks: int = 0
    random_relevant: float | None = None


@dataclass
class CascadeEvaluation:
    """The chosen route on the test split, and its sanity figures."""

    route: list[str]
    thresholds: list[float]
    test: Agreement
    qwk_interval: tuple[float, float] | None
    exact_interval: tuple[float, float] | None
    confusion: list[list[int]]
    decided_share: dict[str, float]
    cost_share_of_top_tier: float
    per_1k_pairs_seconds: float | None
    cv_score: float
    random_relevant: float | None
    random_pairs: int
    flip_rate: float | None
    # test QWK of each tier alone on the cascade's test pairs; None where it did not grade all
    tiers_on_same_pairs: dict[str, float | None] = field(default_factory=dict)
    significance: float = 1.0  # bootstrap share in which the route beat the best single tier
    flip_interval: tuple[float, float] | None = None  # Wilson 95%, over ``flip_attacks``
    flip_attacks: int = 0
    cv_score_human: float | None = None  # out of fold on the pairs a person graded only


@dataclass
class Gate:
    """The agreement gate: cascade test QWK at least ``min_qwk`` and at most
    ``max_random_relevant`` of random products graded relevant."""

    min_qwk: float | None
    qwk: float | None
    max_random_relevant: float
    random_relevant: float | None
    passed: bool


@dataclass
class PreviousRound:
    """The previous succeeded calibration, as its ledger row recorded it: the cascade's test
    agreement and the human labels it was measured on (:mod:`annotator.rounds`)."""

    run_id: int
    qwk: float | None
    exact: float | None
    test_pairs: int  # the cascade's test pairs
    labels: dict[str, dict[str, int]] | None  # split -> source -> labels; None: not recorded
    test_labels: str | None  # fingerprint of the test labels; None: not recorded


@dataclass
class CalibrationOutcome:
    """Everything the calibration report shows (``dataclasses.asdict`` gives its JSON)."""

    prompt_version: str
    objective: str
    splits: dict[str, dict[str, int]]
    budget: float
    tiers: list[TierEvaluation]
    cascade: CascadeEvaluation
    gate: Gate
    calibration_ids: list[int] = field(default_factory=list)
    # human labels of the calibration and test splits: split -> source -> count
    labels: dict[str, dict[str, int]] = field(default_factory=dict)
    test_labels: str = ""  # fingerprint of the test split's human labels
    previous: PreviousRound | None = None  # the previous succeeded calibration, to compare
