"""Calibrating the cascade against human labels and measuring how far it agrees with them.

:func:`calibrate_cascade` runs every tier on the human-labelled pairs of the *calibration* and
*test* splits (judgments are cached, so a re-run calls no model), fits each tier's per-class
isotonic maps on the calibration split, chooses the acceptance thresholds there under the cost
budget, stores both in ``calibrations``, and evaluates every tier and the cascade on the *test*
split only. The tier-training split is never used here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert

from annotator.backends.base import Answer, Backend
from annotator.calibration import Isotonic, choose_thresholds, simulate_cascade
from annotator.judgments import grade_cached, key_of
from annotator.metrics import agreement, confusion, reliability
from annotator.pairs import LabelledPair
from prompts import Prompt
from store.schema import Calibration, utcnow

__all__ = ["CalibrationOutcome", "TierSpec", "calibrate_cascade", "cap_split"]

log = logging.getLogger(__name__)

MIN_CALIBRATION_PAIRS = 10


@dataclass
class TierSpec:
    name: str
    backend: Backend
    cost_weight: float | None = None
    max_attempts: int = 2


@dataclass
class CalibrationOutcome:
    """Everything the calibration report shows (JSON-serialisable)."""

    prompt_version: str
    splits: dict[str, dict[str, int]]
    budget: float
    thresholds: list[float]
    tiers: list[dict[str, Any]] = field(default_factory=list)
    cascade: dict[str, Any] = field(default_factory=dict)
    calibration_choice: dict[str, Any] = field(default_factory=dict)
    gate: dict[str, Any] = field(default_factory=dict)
    injection: dict[str, Any] = field(default_factory=dict)
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


def _matrix(answers: Sequence[Answer]) -> tuple[np.ndarray, np.ndarray]:
    ok = np.array([a.ok for a in answers], dtype=bool)
    dists = np.array([a.distribution if a.ok else [0.25] * 4 for a in answers], dtype=np.float64)
    return dists, ok


def _coverage_curve(
    conf: np.ndarray, correct: np.ndarray, ok: np.ndarray
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
    """Fit, choose thresholds, store and evaluate (see the module docstring)."""
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
        from store.errors import DissentError

        raise DissentError(
            f"calibration needs human labels in both the calibration and test splits "
            f"(have {len(cal)} and {len(test)} pairs); ingest more labels or change split_fractions"
        )
    outcome = CalibrationOutcome(prompt.version, splits, budget, [])
    human_cal = np.array([lp.grade for lp in cal], dtype=np.int64)
    human_test = np.array([lp.grade for lp in test], dtype=np.int64)
    cal_conf, cal_grades, test_conf, test_grades, costs = [], [], [], [], []
    for index, spec in enumerate(tiers):
        call = grade_cached(
            engine,
            spec.backend,
            prompt,
            [lp.pair for lp in cal + test],
            tier=index + 1,
            max_attempts=spec.max_attempts,
            run_id=run_id,
        )
        answers_cal = [call.answers[key_of(lp.pair)] for lp in cal]
        answers_test = [call.answers[key_of(lp.pair)] for lp in test]
        raw_cal, ok_cal = _matrix(answers_cal)
        raw_test, ok_test = _matrix(answers_test)
        iso = (
            Isotonic.fit(raw_cal[ok_cal], human_cal[ok_cal])
            if ok_cal.sum() >= MIN_CALIBRATION_PAIRS
            else None
        )
        if iso is None:
            log.warning(
                "%s: only %d usable calibration answers; left uncalibrated",
                spec.name,
                int(ok_cal.sum()),
            )
        cal_dist = iso.apply(raw_cal) if iso else raw_cal
        test_dist = iso.apply(raw_test) if iso else raw_test
        cal_conf.append(np.where(ok_cal, cal_dist.max(axis=1), -1.0))
        cal_grades.append(np.where(ok_cal, cal_dist.argmax(axis=1), -1))
        test_conf.append(np.where(ok_test, test_dist.max(axis=1), -1.0))
        test_grades.append(np.where(ok_test, test_dist.argmax(axis=1), -1))
        seconds = float(np.mean([a.latency_s for a in answers_cal + answers_test]))
        tokens_in = float(np.mean([a.tokens_in for a in answers_cal + answers_test]))
        tokens_out = float(np.mean([a.tokens_out for a in answers_cal + answers_test]))
        costs.append(spec.cost_weight if spec.cost_weight is not None else max(seconds, 1e-9))
        raw_grades = [
            int(g) if ok else None for g, ok in zip(raw_test.argmax(axis=1), ok_test, strict=True)
        ]
        cal_grades_test = [
            int(g) if ok else None for g, ok in zip(test_grades[-1], ok_test, strict=True)
        ]
        correct_raw = raw_test.argmax(axis=1) == human_test
        correct_cal = test_dist.argmax(axis=1) == human_test
        outcome.tiers.append(
            {
                "name": spec.name,
                "model_id": spec.backend.model_id,
                "isotonic": iso.to_json() if iso else None,
                "test": {
                    "raw": agreement(human_test.tolist(), raw_grades),
                    "calibrated": agreement(human_test.tolist(), cal_grades_test),
                },
                "confusion": confusion(human_test.tolist(), cal_grades_test),
                "reliability": {
                    "before": reliability(raw_test.max(axis=1)[ok_test], correct_raw[ok_test]),
                    "after": reliability(test_dist.max(axis=1)[ok_test], correct_cal[ok_test]),
                },
                "coverage_curve": _coverage_curve(test_dist.max(axis=1), correct_cal, ok_test),
                "per_1k_pairs": {
                    "seconds": 1000 * seconds,
                    "tokens_in": 1000 * tokens_in,
                    "tokens_out": 1000 * tokens_out,
                },
                "cost": costs[-1],
                "failures": int((~ok_test).sum() + (~ok_cal).sum()),
                "model_calls": call.model_calls,
                "cache_hits": call.cache_hits,
            }
        )
    choice = choose_thresholds(cal_conf, cal_grades, human_cal, costs, budget)
    outcome.thresholds = choice.thresholds
    outcome.calibration_choice = {
        "agreement": choice.agreement,
        "cost_share": choice.cost_share,
        "decided_share": choice.decided_share,
    }
    decider, final, cost_share = simulate_cascade(test_conf, test_grades, choice.thresholds, costs)
    final_grades = [int(g) if g >= 0 else None for g in final]
    outcome.cascade = {
        "test": agreement(human_test.tolist(), final_grades),
        "confusion": confusion(human_test.tolist(), final_grades),
        "decided_share": {t.name: float(np.mean(decider == i)) for i, t in enumerate(tiers)},
        "cost_share_of_top_tier": cost_share,
        "per_1k_pairs_seconds": 1000 * cost_share * costs[-1]
        if tiers[-1].cost_weight is None
        else None,
    }
    qwk = outcome.cascade["test"]["qwk"]
    outcome.gate = {
        "min_qwk": min_qwk,
        "qwk": qwk,
        "passed": min_qwk is None or (qwk is not None and qwk >= min_qwk),
    }
    if injection_pairs:
        from annotator.injection import flip_rates

        attacked = [lp.pair for lp in test[:injection_pairs]]
        outcome.injection = flip_rates(engine, tiers, prompt, attacked, run_id)
    fitted_on = {
        "split": "calibration",
        "pairs": len(cal),
        "queries": splits["calibration"]["queries"],
        "seed": seed,
    }
    with engine.begin() as conn:
        for index, (spec, tier) in enumerate(zip(tiers, outcome.tiers, strict=True)):
            threshold = choice.thresholds[index] if index < len(choice.thresholds) else None
            result = conn.execute(
                insert(Calibration).values(
                    tier=index + 1,
                    model_id=spec.backend.model_id,
                    prompt_hash=prompt.version,
                    isotonic=tier["isotonic"] or {},
                    thresholds={"accept": threshold, "budget": budget},
                    fitted_on=fitted_on,
                    run_id=run_id,
                    created_at=utcnow(),
                )
            )
            outcome.calibration_ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
    return outcome
