"""Calibrating the cascade against human labels and measuring how far it agrees with them.

:func:`calibrate_cascade` runs every tier on the human-labelled pairs of the *calibration* and
*test* splits (judgments are cached, so a re-run calls no model), fits each tier's per-class
isotonic maps on the calibration split, chooses the acceptance thresholds there under the cost
budget, stores both in ``calibrations``, and evaluates every tier and the cascade on the *test*
split only. The tier-training split is never used here.

It runs as steps: cap the splits (:func:`cap_split`), grade both splits with each tier and
calibrate it (:func:`_evaluate_tier`), choose thresholds and simulate the cascade on the test
split (:func:`_evaluate_cascade`), measure prompt injection, and store the calibrations. The
result is a :class:`CalibrationOutcome` of typed parts, which the report renders.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, insert

from annotator.backends.base import Answer
from annotator.calibration import Isotonic, ThresholdChoice, choose_thresholds, simulate_cascade
from annotator.cascade import TierSpec
from annotator.injection import FlipRate, flip_rates
from annotator.judgments import grade_cached, key_of
from annotator.metrics import Agreement, agreement, confusion, reliability
from annotator.pairs import LabelledPair
from core.errors import DissentError
from prompts import Prompt
from store.schema import Calibration, utcnow

__all__ = [
    "CalibrationOutcome",
    "CascadeEvaluation",
    "Gate",
    "TierEvaluation",
    "calibrate_cascade",
    "cap_split",
]

log = logging.getLogger(__name__)

MIN_CALIBRATION_PAIRS = 10
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass
class TierEvaluation:
    """One tier on the test split: agreement before and after calibration, and its cost."""

    name: str
    model_id: str
    isotonic: dict[str, Any] | None
    raw: Agreement
    calibrated: Agreement
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


@dataclass
class CascadeEvaluation:
    """The cascade on the test split with the thresholds chosen on the calibration split."""

    test: Agreement
    confusion: list[list[int]]
    decided_share: dict[str, float]
    cost_share_of_top_tier: float
    per_1k_pairs_seconds: float | None


@dataclass
class Gate:
    """The agreement gate: passed unless the cascade's test QWK is below ``min_qwk``."""

    min_qwk: float | None
    qwk: float | None
    passed: bool


@dataclass
class CalibrationOutcome:
    """Everything the calibration report shows (``dataclasses.asdict`` gives its JSON)."""

    prompt_version: str
    splits: dict[str, dict[str, int]]
    budget: float
    thresholds: list[float]
    tiers: list[TierEvaluation]
    cascade: CascadeEvaluation
    choice: ThresholdChoice
    gate: Gate
    injection: dict[str, FlipRate] = field(default_factory=dict)
    calibration_ids: list[int] = field(default_factory=list)


def cap_split(
    pairs: Sequence[LabelledPair], limit: int | None, seed: int = 0
) -> list[LabelledPair]:
    """At most ``limit`` pairs, taken as whole queries in a seeded random order."""
    if limit is None or len(pairs) <= limit:
        return list(pairs)
    by_query: dict[int, list[LabelledPair]] = {}
    for lp in pairs:
        by_query.setdefault(lp.pair.query_id, []).append(lp)
    order = sorted(by_query)
    random.Random(seed).shuffle(order)
    out: list[LabelledPair] = []
    for qid in order:
        if len(out) + len(by_query[qid]) > limit and out:
            break
        out.extend(by_query[qid])
    return out


def _matrix(answers: Sequence[Answer]) -> tuple[Floats, npt.NDArray[np.bool_]]:
    ok = np.array([a.ok for a in answers], dtype=bool)
    dists = np.array([a.distribution if a.ok else [0.25] * 4 for a in answers], dtype=np.float64)
    return dists, ok


def _coverage_curve(
    conf: Floats, correct: npt.NDArray[np.bool_], ok: npt.NDArray[np.bool_]
) -> list[dict[str, float]]:
    order = np.argsort(-np.where(ok, conf, -1.0), kind="stable")
    curve = []
    n = len(order)
    for share in np.linspace(0.1, 1.0, 10):
        top = order[: max(1, round(float(share) * n))]
        top = top[ok[top]]
        curve.append(
            {"coverage": float(share), "agreement": float(correct[top].mean()) if len(top) else 0.0}
        )
    return curve


@dataclass
class _Decisions:
    """A tier's calibrated confidence and grade per pair (-1 where it failed)."""

    confidence: Floats
    grade: Ints


def _decisions(dists: Floats, ok: npt.NDArray[np.bool_]) -> _Decisions:
    return _Decisions(np.where(ok, dists.max(axis=1), -1.0), np.where(ok, dists.argmax(axis=1), -1))


def _grades(dists: Floats, ok: npt.NDArray[np.bool_]) -> list[int | None]:
    return [int(g) if good else None for g, good in zip(dists.argmax(axis=1), ok, strict=True)]


def _evaluate_tier(
    engine: Engine,
    index: int,
    spec: TierSpec,
    prompt: Prompt,
    cal: Sequence[LabelledPair],
    test: Sequence[LabelledPair],
    run_id: int | None,
) -> tuple[TierEvaluation, _Decisions, _Decisions]:
    """Grade both splits with one tier, calibrate it on ``cal``, evaluate it on ``test``."""
    call = grade_cached(
        engine,
        spec.backend,
        prompt,
        [lp.pair for lp in [*cal, *test]],
        tier=index + 1,
        max_attempts=spec.max_attempts,
        run_id=run_id,
    )
    answers_cal = [call.answers[key_of(lp.pair)] for lp in cal]
    answers_test = [call.answers[key_of(lp.pair)] for lp in test]
    raw_cal, ok_cal = _matrix(answers_cal)
    raw_test, ok_test = _matrix(answers_test)
    human_cal = np.array([lp.grade for lp in cal], dtype=np.int64)
    human_test = [lp.grade for lp in test]
    iso = None
    if ok_cal.sum() >= MIN_CALIBRATION_PAIRS:
        iso = Isotonic.fit(raw_cal[ok_cal], human_cal[ok_cal])
    else:
        log.warning("%s: only %d usable calibration answers; uncalibrated", spec.name, ok_cal.sum())
    cal_dist = iso.apply(raw_cal) if iso else raw_cal
    test_dist = iso.apply(raw_test) if iso else raw_test
    answers = answers_cal + answers_test
    seconds = float(np.mean([a.latency_s for a in answers]))
    correct_raw = raw_test.argmax(axis=1) == np.asarray(human_test)
    correct_cal = test_dist.argmax(axis=1) == np.asarray(human_test)
    evaluation = TierEvaluation(
        name=spec.name,
        model_id=spec.backend.model_id,
        isotonic=iso.to_json() if iso else None,
        raw=agreement(human_test, _grades(raw_test, ok_test)),
        calibrated=agreement(human_test, _grades(test_dist, ok_test)),
        confusion=confusion(human_test, _grades(test_dist, ok_test)),
        reliability_before=reliability(raw_test.max(axis=1)[ok_test], correct_raw[ok_test]),
        reliability_after=reliability(test_dist.max(axis=1)[ok_test], correct_cal[ok_test]),
        coverage_curve=_coverage_curve(test_dist.max(axis=1), correct_cal, ok_test),
        seconds_per_1k=1000 * seconds,
        tokens_in_per_1k=1000 * float(np.mean([a.tokens_in for a in answers])),
        tokens_out_per_1k=1000 * float(np.mean([a.tokens_out for a in answers])),
        cost=spec.cost_weight if spec.cost_weight is not None else max(seconds, 1e-9),
        failures=int((~ok_test).sum() + (~ok_cal).sum()),
        model_calls=call.model_calls,
        cache_hits=call.cache_hits,
    )
    return evaluation, _decisions(cal_dist, ok_cal), _decisions(test_dist, ok_test)


def _evaluate_cascade(
    tiers: Sequence[TierSpec],
    evaluations: Sequence[TierEvaluation],
    test: Sequence[_Decisions],
    human_test: Sequence[int],
    thresholds: Sequence[float],
) -> CascadeEvaluation:
    costs = [e.cost for e in evaluations]
    decider, final, cost_share = simulate_cascade(
        [d.confidence for d in test], [d.grade for d in test], thresholds, costs
    )
    final_grades = [int(g) if g >= 0 else None for g in final]
    return CascadeEvaluation(
        test=agreement(human_test, final_grades),
        confusion=confusion(human_test, final_grades),
        decided_share={t.name: float(np.mean(decider == i)) for i, t in enumerate(tiers)},
        cost_share_of_top_tier=cost_share,
        per_1k_pairs_seconds=1000 * cost_share * costs[-1]
        if tiers[-1].cost_weight is None
        else None,
    )


def _store(
    engine: Engine,
    tiers: Sequence[TierSpec],
    outcome: CalibrationOutcome,
    prompt: Prompt,
    fitted_on: dict[str, Any],
    run_id: int | None,
) -> list[int]:
    """One ``calibrations`` row per tier (its isotonic maps and threshold); their ids."""
    ids = []
    with engine.begin() as conn:
        for index, (spec, tier) in enumerate(zip(tiers, outcome.tiers, strict=True)):
            threshold = outcome.thresholds[index] if index < len(outcome.thresholds) else None
            result = conn.execute(
                insert(Calibration).values(
                    tier=index + 1,
                    model_id=spec.backend.model_id,
                    prompt_hash=prompt.version,
                    isotonic=tier.isotonic or {},
                    thresholds={"accept": threshold, "budget": outcome.budget},
                    fitted_on=fitted_on,
                    run_id=run_id,
                    created_at=utcnow(),
                )
            )
            ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
    return ids


def calibrate_cascade(
    engine: Engine,
    tiers: Sequence[TierSpec],
    prompt: Prompt,
    labelled: Sequence[LabelledPair],
    *,
    budget: float,
    min_qwk: float | None = None,
    max_pairs_per_split: int | None = None,
    injection_pairs: int = 0,
    seed: int = 0,
    run_id: int | None = None,
) -> CalibrationOutcome:
    """Fit, choose thresholds, store and evaluate (see the module docstring).

    Raises:
        DissentError: the calibration or the test split has no human labels.
    """
    parts = {
        name: cap_split([lp for lp in labelled if lp.split == name], max_pairs_per_split, seed)
        for name in ("train", "calibration", "test")
    }
    splits = {
        name: {"pairs": len(items), "queries": len({lp.pair.query_id for lp in items})}
        for name, items in parts.items()
    }
    cal, test = parts["calibration"], parts["test"]
    if not cal or not test:
        raise DissentError(
            f"calibration needs human labels in both the calibration and test splits "
            f"(have {len(cal)} and {len(test)} pairs); ingest more labels or change split_fractions"
        )
    evaluated = [
        _evaluate_tier(engine, i, spec, prompt, cal, test, run_id) for i, spec in enumerate(tiers)
    ]
    evaluations = [e for e, _, _ in evaluated]
    human_cal = np.array([lp.grade for lp in cal], dtype=np.int64)
    human_test = [lp.grade for lp in test]
    choice = choose_thresholds(
        [c.confidence for _, c, _ in evaluated],
        [c.grade for _, c, _ in evaluated],
        human_cal,
        [e.cost for e in evaluations],
        budget,
    )
    cascade = _evaluate_cascade(
        tiers, evaluations, [t for _, _, t in evaluated], human_test, choice.thresholds
    )
    qwk = cascade.test.qwk
    gate = Gate(min_qwk, qwk, min_qwk is None or (qwk is not None and qwk >= min_qwk))
    outcome = CalibrationOutcome(
        prompt.version, splits, budget, choice.thresholds, evaluations, cascade, choice, gate
    )
    if injection_pairs:
        attacked = [lp.pair for lp in test[:injection_pairs]]
        outcome.injection = flip_rates(engine, tiers, prompt, attacked, run_id)
    fitted_on = {
        "split": "calibration",
        "pairs": len(cal),
        "queries": splits["calibration"]["queries"],
        "seed": seed,
    }
    outcome.calibration_ids = _store(engine, tiers, outcome, prompt, fitted_on, run_id)
    return outcome
