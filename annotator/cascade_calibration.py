"""Calibrating the cascade against human labels and measuring how far it agrees with them.

:func:`calibrate_cascade` (what :func:`annotator.calibrating.calibrate` runs) works in steps:

1. **Splits.** The *calibration* and *test* splits of the human labels (by query; the
   tier-training split is never used here); a slow tier grades a seeded subsample of whole
   queries of each (its ``max_eval_pairs``; a smaller cap takes a subset of a larger one's
   pairs, so every pair a slow tier graded was graded by the faster ones too).
2. **Each tier** (:func:`_fit_tier`) grades its pairs (judgments are cached: a re-run calls no
   model). By ``folds``-fold cross-validation by query inside the calibration split it makes
   out-of-fold decisions — per-class isotonic maps and the objective's decider
   (:mod:`annotator.decision`) fitted on the other folds — and then fits both on the whole
   calibration split for the test split and for annotation.
3. **The route** (:func:`annotator.routing.choose_route`): which tiers run and their thresholds,
   chosen on the out-of-fold decisions within the cost budget; never worse there than the best
   single tier within the budget. Tiers left out are bypassed, with the reason.
4. **The test split**: every tier and the cascade, agreement with bootstrap 95% intervals.
5. **Sanity without labels**: random catalog products for the test queries, sent down the
   route; the share graded relevant (>= 2) must stay under ``max_random_relevant``.
6. **Prompt injection**: the same test pairs with instructions appended to the product; the
   flip rate per tier and for the cascade.
7. **Store** one ``calibrations`` row per tier (maps, decider, threshold or bypass).

The result is a :class:`CalibrationOutcome` of typed parts, which the report renders.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, insert

from annotator.backends.base import Pair
from annotator.cascade import TierSpec
from annotator.decision import Objective
from annotator.fitting import (
    Settings,
    TierRun,
    cost,
    decisions,
    human_cv_scores,
    route_grades,
    run_tier,
    shared_pairs,
)
from annotator.injection import INJECTIONS, inject
from annotator.judgments import grade_cached, key_of
from annotator.metrics import (
    agreement,
    bootstrap_interval,
    confusion,
    reliability,
    wilson_interval,
)
from annotator.outcome import CalibrationOutcome, CascadeEvaluation, Gate, TierEvaluation
from annotator.pairs import LabelledPair, require_splits
from annotator.routing import Plan, Route, choose_route, simulate
from core.progress import track
from prompts import Prompt
from store.schema import Calibration, utcnow

__all__ = ["calibrate_cascade"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def _coverage_curve(conf: Floats, correct: Bools, ok: Bools) -> list[dict[str, float]]:
    order = np.argsort(-np.where(ok, conf, -1.0), kind="stable")
    curve = []
    for share in np.linspace(0.1, 1.0, 10):
        top = order[: max(1, round(float(share) * len(order)))]
        top = top[ok[top]]
        value = float(correct[top].mean()) if len(top) else 0.0
        curve.append({"coverage": float(share), "agreement": value})
    return curve


def _intervals(
    objective_human: Ints, predicted: Ints, seed: int
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    graded = predicted >= 0
    if graded.sum() < 2:
        return None, None
    h, p = objective_human[graded], predicted[graded]
    return bootstrap_interval(h, p, "qwk", seed), bootstrap_interval(h, p, "exact", seed)


def _evaluate_tier(run: TierRun, settings: Settings) -> TierEvaluation:
    pairs = [lp.pair for lp in run.test]
    dists, ok = run.matrix(pairs)
    human = np.array([lp.grade for lp in run.test], dtype=np.int64)
    calibrated = run.fitted.iso.apply(dists) if run.fitted.iso else dists
    grades, _ = run.fitted.decide(dists, ok)
    raw = [int(g) if good else None for g, good in zip(dists.argmax(axis=1), ok, strict=True)]
    decided = [int(g) if g >= 0 else None for g in grades]
    correct_raw = dists.argmax(axis=1) == human
    correct_cal = calibrated.argmax(axis=1) == human
    answers = [run.answers[key_of(p)] for p in [*(lp.pair for lp in run.cal), *pairs]]
    qwk_ci, exact_ci = _intervals(human, grades, settings.seed)
    return TierEvaluation(
        name=run.spec.name,
        model_id=run.spec.backend.model_id,
        isotonic=run.fitted.iso.to_json() if run.fitted.iso else None,
        decider=run.fitted.decider.to_json(),
        pairs={"calibration": len(run.cal), "test": len(run.test)},
        raw=agreement(human.tolist(), raw),
        calibrated=agreement(human.tolist(), decided),
        qwk_interval=qwk_ci,
        exact_interval=exact_ci,
        confusion=confusion(human.tolist(), decided),
        reliability_before=reliability(dists.max(axis=1)[ok], correct_raw[ok]),
        reliability_after=reliability(calibrated.max(axis=1)[ok], correct_cal[ok]),
        coverage_curve=_coverage_curve(calibrated.max(axis=1), correct_cal, ok),
        seconds_per_1k=1000 * float(np.mean([a.latency_s for a in answers])),
        tokens_in_per_1k=1000 * float(np.mean([a.tokens_in for a in answers])),
        tokens_out_per_1k=1000 * float(np.mean([a.tokens_out for a in answers])),
        cost=cost(run.spec, answers),
        failures=sum(not a.ok for a in answers),
        model_calls=run.model_calls,
        cache_hits=run.cache_hits,
    )


def _choose(runs: Sequence[TierRun], costs: Sequence[float], settings: Settings) -> Plan:
    """The route, chosen on out-of-fold decisions of the pairs every tier graded."""
    shared = shared_pairs(runs, range(len(runs)), "cal")
    human = np.array([lp.grade for lp in shared], dtype=np.int64)
    confs, grades = [], []
    for run in runs:
        index = {key: i for i, key in enumerate(run.fitted.keys)}
        rows = np.array([index[key_of(lp.pair)] for lp in shared], dtype=np.int64)
        confs.append(run.fitted.oof_conf[rows])
        grades.append(run.fitted.oof_grade[rows])
    return choose_route(settings.objective, human, confs, grades, costs, settings.budget)


def calibrate_cascade(
    engine: Engine,
    tiers: Sequence[TierSpec],
    prompt: Prompt,
    labelled: Sequence[LabelledPair],
    *,
    objective: Objective = "qwk",
    budget: float,
    folds: int = 5,
    min_qwk: float | None = None,
    max_random_relevant: float = 0.05,
    injection_pairs: int = 0,
    random_pairs: Sequence[Pair] = (),
    seed: int = 0,
    run_id: int | None = None,
) -> CalibrationOutcome:
    """Fit, choose the route, evaluate, store (see the module docstring).

    Args:
        engine: the store (judgments cache and ``calibrations`` rows).
        tiers: the configured tiers, cheapest first.
        prompt: the grading prompt.
        labelled: the human-labelled pairs with their splits.
        objective: what the deciders and the route optimise.
        budget: the route's compute as a share of the top tier alone.
        folds: cross-validation folds (by query) inside the calibration split.
        min_qwk: the gate's minimum test QWK (None: no minimum).
        max_random_relevant: the gate's largest share of random products graded relevant.
        injection_pairs: test pairs attacked for the flip rate (0: none).
        random_pairs: (test query, random catalog product) pairs for the sanity figure.
        seed: folds, subsamples and bootstrap intervals.
        run_id: the ``calibrate`` run the judgments and rows belong to.

    Returns:
        Every tier's and the cascade's figures, the gate, and the ``calibrations`` row ids.

    Raises:
        DissentError: the calibration or the test split has no human labels.
    """
    require_splits(labelled)
    settings = Settings(objective, budget, folds, seed, min_qwk, max_random_relevant)
    parts = {
        name: [lp for lp in labelled if lp.split == name]
        for name in ("train", "calibration", "test")
    }
    cal, test = parts["calibration"], parts["test"]
    runs = [
        run_tier(engine, i + 1, spec, prompt, (cal, test), settings, run_id)
        for i, spec in enumerate(track(tiers, "calibrating tiers", total=len(tiers)))
    ]
    evaluations = [_evaluate_tier(run, settings) for run in runs]
    plan = _choose(runs, [e.cost for e in evaluations], settings)
    for evaluation, cv, why in zip(evaluations, plan.single_tier, plan.bypassed, strict=True):
        evaluation.cv_score, evaluation.bypassed = cv, why
    cascade = _evaluate_cascade(runs, evaluations, plan, settings)
    alone, cascade.cv_score_human = human_cv_scores(runs, plan.route, settings.objective)
    for evaluation, score in zip(evaluations, alone, strict=True):
        evaluation.cv_score_human = score
    _sanity(engine, runs, evaluations, cascade, plan.route, prompt, random_pairs, run_id)
    if injection_pairs:
        _injection(engine, runs, evaluations, cascade, plan.route, prompt, injection_pairs, run_id)
    outcome = CalibrationOutcome(
        prompt.version,
        objective,
        {
            name: {"pairs": len(items), "queries": len({lp.pair.query_id for lp in items})}
            for name, items in parts.items()
        },
        budget,
        evaluations,
        cascade,
        _gate(cascade, settings),
    )
    outcome.calibration_ids = _store(engine, runs, outcome, plan, prompt, seed, run_id)
    return outcome


def _evaluate_cascade(
    runs: Sequence[TierRun],
    evaluations: Sequence[TierEvaluation],
    plan: Plan,
    settings: Settings,
) -> CascadeEvaluation:
    route = plan.route
    shared = shared_pairs(runs, route.active, "test")
    human = np.array([lp.grade for lp in shared], dtype=np.int64)
    confs, grades = decisions(runs, [lp.pair for lp in shared])
    costs = [e.cost for e in evaluations]
    outcome = simulate(route, confs, grades, costs)
    final = [int(g) if g >= 0 else None for g in outcome.grades]
    qwk_ci, exact_ci = _intervals(human, outcome.grades, settings.seed)
    top = runs[-1].spec.cost_weight is None
    # every tier alone on the cascade's own test pairs: the fair comparison, so only for a
    # tier that graded all of them (a subsampled slow tier reports None, not a figure on a few)
    alone: dict[str, float | None] = {}
    for index, run in enumerate(runs):
        own = [int(g) if g >= 0 else None for g in grades[index]]
        complete = bool(own) and all(g is not None for g in own)
        alone[run.spec.name] = agreement(human.tolist(), own).qwk if complete else None
    return CascadeEvaluation(
        route=[runs[t].spec.name for t in route.active],
        thresholds=list(route.thresholds),
        test=agreement(human.tolist(), final),
        qwk_interval=qwk_ci,
        exact_interval=exact_ci,
        confusion=confusion(human.tolist(), final),
        decided_share={
            r.spec.name: float(np.mean(outcome.decider == i)) for i, r in enumerate(runs)
        },
        cost_share_of_top_tier=outcome.cost_share,
        per_1k_pairs_seconds=1000 * outcome.cost_share * costs[-1] if top else None,
        cv_score=plan.score,
        random_relevant=None,
        random_pairs=0,
        flip_rate=None,
        tiers_on_same_pairs=alone,
        significance=plan.significance,
    )


def _sanity(
    engine: Engine,
    runs: Sequence[TierRun],
    evaluations: Sequence[TierEvaluation],
    cascade: CascadeEvaluation,
    route: Route,
    prompt: Prompt,
    pairs: Sequence[Pair],
    run_id: int | None,
) -> None:
    """The share of random products each tier and the cascade grade relevant (>= 2)."""
    if not pairs:
        return
    for position, run in enumerate(runs, start=1):
        cap = run.spec.max_eval_pairs
        chosen = list(pairs[:cap] if cap else pairs)
        call = grade_cached(engine, run.spec.backend, prompt, chosen, tier=position, run_id=run_id)
        run.answers.update(call.answers)
        dists, ok = run.matrix(chosen)
        grades, _ = run.fitted.decide(dists, ok)
        share = float(np.mean(grades[ok] >= 2)) if ok.any() else None
        evaluations[position - 1].random_relevant = share
    smallest = min(runs[t].spec.max_eval_pairs or len(pairs) for t in route.active)
    shared = list(pairs[: min(len(pairs), smallest)])
    final = route_grades(runs, route, shared)
    cascade.random_pairs = len(shared)
    cascade.random_relevant = float(np.mean(final >= 2)) if len(shared) else None


def _injection(
    engine: Engine,
    runs: Sequence[TierRun],
    evaluations: Sequence[TierEvaluation],
    cascade: CascadeEvaluation,
    route: Route,
    prompt: Prompt,
    count: int,
    run_id: int | None,
) -> None:
    """How often an injected instruction changes a grade, per tier and for the cascade."""
    base = [lp.pair for lp in shared_pairs(runs, route.active, "test")[:count]]
    attacked = [(pair, inject(pair, text)) for pair in base for text in INJECTIONS]
    for position, run in enumerate(runs, start=1):
        mine = attacked[: run.spec.max_eval_pairs] if run.spec.max_eval_pairs else attacked
        clean, dirty = [a for a, _ in mine], [b for _, b in mine]
        call = grade_cached(
            engine, run.spec.backend, prompt, clean + dirty, tier=position, run_id=run_id
        )
        run.answers.update(call.answers)
        clean_g, _ = run.fitted.decide(*run.matrix(clean))
        dirty_g, _ = run.fitted.decide(*run.matrix(dirty))
        flips, attacks = _flips(clean_g, dirty_g)
        tier = evaluations[position - 1]
        tier.flip_rate = flips / attacks if attacks else None
        tier.flip_interval, tier.flip_attacks = wilson_interval(flips, attacks), attacks
    cap = min(runs[t].spec.max_eval_pairs or len(attacked) for t in route.active)
    before = route_grades(runs, route, [a for a, _ in attacked[:cap]])
    after = route_grades(runs, route, [b for _, b in attacked[:cap]])
    flips, attacks = _flips(before, after)
    cascade.flip_rate = flips / attacks if attacks else None
    cascade.flip_interval, cascade.flip_attacks = wilson_interval(flips, attacks), attacks


def _flips(clean: Ints, dirty: Ints) -> tuple[int, int]:
    """(grades changed by the attack, attacks where both versions got a grade)."""
    both = (clean >= 0) & (dirty >= 0)
    return int(np.sum(clean[both] != dirty[both])), int(both.sum())


def _gate(cascade: CascadeEvaluation, settings: Settings) -> Gate:
    qwk = cascade.test.qwk
    random_ok = (
        cascade.random_relevant is None or cascade.random_relevant <= settings.max_random_relevant
    )
    qwk_ok = settings.min_qwk is None or (qwk is not None and qwk >= settings.min_qwk)
    return Gate(
        settings.min_qwk,
        qwk,
        settings.max_random_relevant,
        cascade.random_relevant,
        qwk_ok and random_ok,
    )


def _store(
    engine: Engine,
    runs: Sequence[TierRun],
    outcome: CalibrationOutcome,
    plan: Plan,
    prompt: Prompt,
    seed: int,
    run_id: int | None,
) -> list[int]:
    """One ``calibrations`` row per tier: maps, decider, threshold, or why it is bypassed."""
    route = plan.route
    ids = []
    with engine.begin() as conn:
        for index, run in enumerate(runs):
            active = index in route.active
            position = route.active.index(index) if active else None
            threshold = (
                route.thresholds[position]
                if position is not None and position < len(route.thresholds)
                else None
            )
            result = conn.execute(
                insert(Calibration).values(
                    tier=index + 1,
                    model_id=run.spec.backend.model_id,
                    prompt_hash=prompt.version,
                    isotonic=run.fitted.iso.to_json() if run.fitted.iso else {},
                    thresholds={
                        "accept": threshold,
                        "bypassed": not active,
                        "reason": plan.bypassed[index],
                        "decider": run.fitted.decider.to_json(),
                        "objective": outcome.objective,
                        "budget": outcome.budget,
                    },
                    fitted_on={
                        "split": "calibration",
                        "pairs": len(run.cal),
                        "queries": len({lp.pair.query_id for lp in run.cal}),
                        "seed": seed,
                    },
                    run_id=run_id,
                    created_at=utcnow(),
                )
            )
            ids.append(int(result.inserted_primary_key[0]))  # type: ignore[index]
    return ids
