"""Calibrating the cascade against human labels and measuring how far it agrees with them.

:func:`calibrate_cascade` runs as steps:

1. **Splits.** The *calibration* and *test* splits of the human labels (by query; the
   tier-training split is never used here), each capped at ``max_pairs_per_split``; a slow
   tier grades a seeded subsample of whole queries (``max_eval_pairs``; the subsamples are
   nested, so every pair a slow tier graded was graded by the faster ones too).
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

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, insert

from annotator.backends.base import Answer, Pair
from annotator.calibration import Isotonic
from annotator.cascade import TierSpec
from annotator.decision import Decider, Objective, fit_decider
from annotator.injection import INJECTIONS, inject
from annotator.judgments import grade_cached, key_of
from annotator.metrics import Agreement, agreement, bootstrap_interval, confusion, reliability
from annotator.pairs import LabelledPair
from annotator.routing import Plan, Route, choose_route, simulate
from core.errors import DissentError
from core.progress import counter, track
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
Bools = npt.NDArray[np.bool_]


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
    bypassed: str = ""  # why it is not in the route ("" when it is)
    flip_rate: float | None = None
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


def cap_split(
    pairs: Sequence[LabelledPair], limit: int | None, seed: int = 0
) -> list[LabelledPair]:
    """At most ``limit`` pairs, taken as whole queries in a seeded random order.

    The query order depends on the seed only, so the pairs a smaller limit takes are among
    those a larger one takes (every slow tier's subsample lies inside a faster one's).
    """
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


def _matrix(answers: Sequence[Answer]) -> tuple[Floats, Bools]:
    ok = np.array([a.ok for a in answers], dtype=bool)
    dists = np.array([a.distribution if a.ok else [0.25] * 4 for a in answers], dtype=np.float64)
    return dists.reshape(-1, 4), ok


def _coverage_curve(conf: Floats, correct: Bools, ok: Bools) -> list[dict[str, float]]:
    order = np.argsort(-np.where(ok, conf, -1.0), kind="stable")
    curve = []
    for share in np.linspace(0.1, 1.0, 10):
        top = order[: max(1, round(float(share) * len(order)))]
        top = top[ok[top]]
        value = float(correct[top].mean()) if len(top) else 0.0
        curve.append({"coverage": float(share), "agreement": value})
    return curve


@dataclass
class _Fitted:
    """A tier fitted on the calibration split: what it decides, in and out of fold."""

    iso: Isotonic | None
    decider: Decider
    keys: list[tuple[int, str]]  # its calibration pairs
    oof_grade: Ints
    oof_conf: Floats

    def decide(self, dists: Floats, ok: Bools) -> tuple[Ints, Floats]:
        grades, conf = self.decider.decide(self.iso.apply(dists) if self.iso else dists)
        return np.where(ok, grades, -1), np.where(ok, conf, -1.0)


def _fit_maps(
    objective: Objective, dists: Floats, ok: Bools, human: Ints
) -> tuple[Isotonic | None, Decider]:
    if ok.sum() < MIN_CALIBRATION_PAIRS:
        return None, fit_decider(objective, dists[ok], human[ok])
    iso = Isotonic.fit(dists[ok], human[ok])
    return iso, fit_decider(objective, iso.apply(dists[ok]), human[ok])


def _folds(pairs: Sequence[LabelledPair], k: int, seed: int) -> Ints:
    """A fold per pair: whole queries, in a seeded order, dealt round-robin."""
    queries = sorted({lp.pair.query_id for lp in pairs})
    random.Random(seed).shuffle(queries)
    fold_of = {q: i % k for i, q in enumerate(queries)}
    return np.array([fold_of[lp.pair.query_id] for lp in pairs], dtype=np.int64)


def _fit_tier(
    objective: Objective,
    cal: Sequence[LabelledPair],
    dists: Floats,
    ok: Bools,
    folds: int,
    seed: int,
) -> _Fitted:
    """Out-of-fold decisions on ``cal``, then the maps fitted on all of it."""
    human = np.array([lp.grade for lp in cal], dtype=np.int64)
    fold = _folds(cal, folds, seed)
    oof_grade = np.full(len(cal), -1, dtype=np.int64)
    oof_conf = np.full(len(cal), -1.0)
    for k in range(folds):
        held = fold == k
        if not held.any():
            continue
        iso, decider = _fit_maps(objective, dists[~held], ok[~held], human[~held])
        fitted = _Fitted(iso, decider, [], oof_grade, oof_conf)
        oof_grade[held], oof_conf[held] = fitted.decide(dists[held], ok[held])
    iso, decider = _fit_maps(objective, dists, ok, human)
    return _Fitted(iso, decider, [key_of(lp.pair) for lp in cal], oof_grade, oof_conf)


@dataclass
class _TierRun:
    """One tier's answers on its calibration and test pairs, fitted."""

    spec: TierSpec
    cal: list[LabelledPair]
    test: list[LabelledPair]
    answers: dict[tuple[int, str], Answer]
    fitted: _Fitted
    model_calls: int
    cache_hits: int

    def matrix(self, pairs: Sequence[Pair]) -> tuple[Floats, Bools]:
        return _matrix([self.answers[key_of(p)] for p in pairs])


def _run_tier(
    engine: Engine,
    position: int,
    spec: TierSpec,
    prompt: Prompt,
    parts: tuple[list[LabelledPair], list[LabelledPair]],
    settings: _Settings,
    run_id: int | None,
) -> _TierRun:
    cal = cap_split(parts[0], spec.max_eval_pairs, settings.seed)
    test = cap_split(parts[1], spec.max_eval_pairs, settings.seed)
    pairs = [lp.pair for lp in [*cal, *test]]
    with counter(f"tier {position} {spec.name}", total=len(pairs)) as advance:
        call = grade_cached(
            engine,
            spec.backend,
            prompt,
            pairs,
            tier=position,
            max_attempts=spec.max_attempts,
            run_id=run_id,
            progress=advance,
        )
        advance(call.cache_hits)
    dists, ok = _matrix([call.answers[key_of(lp.pair)] for lp in cal])
    fitted = _fit_tier(settings.objective, cal, dists, ok, settings.folds, settings.seed)
    return _TierRun(spec, cal, test, call.answers, fitted, call.model_calls, call.cache_hits)


@dataclass(frozen=True)
class _Settings:
    objective: Objective
    budget: float
    folds: int
    seed: int
    min_qwk: float | None
    max_random_relevant: float


def _cost(spec: TierSpec, answers: Sequence[Answer]) -> float:
    seconds = float(np.mean([a.latency_s for a in answers])) if answers else 0.0
    return spec.cost_weight if spec.cost_weight is not None else max(seconds, 1e-9)


def _intervals(
    objective_human: Ints, predicted: Ints, seed: int
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    graded = predicted >= 0
    if graded.sum() < 2:
        return None, None
    h, p = objective_human[graded], predicted[graded]
    return bootstrap_interval(h, p, "qwk", seed), bootstrap_interval(h, p, "exact", seed)


def _evaluate_tier(run: _TierRun, settings: _Settings) -> TierEvaluation:
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
        cost=_cost(run.spec, answers),
        failures=sum(not a.ok for a in answers),
        model_calls=run.model_calls,
        cache_hits=run.cache_hits,
    )


def _shared(runs: Sequence[_TierRun], active: Sequence[int], split: str) -> list[LabelledPair]:
    """The pairs of ``split`` that every tier of ``active`` graded (the slowest one's)."""
    smallest = min((runs[t] for t in active), key=lambda r: len(getattr(r, split)))
    return list(getattr(smallest, split))


def _decisions(runs: Sequence[_TierRun], pairs: Sequence[Pair]) -> tuple[list[Floats], list[Ints]]:
    """Every tier's (full-fit) confidence and grade on ``pairs`` (-1 where it has none)."""
    confs, grades = [], []
    for run in runs:
        known = [key_of(p) in run.answers for p in pairs]
        dists, ok = _matrix(
            [run.answers.get(key_of(p), Answer.failed("not graded")) for p in pairs]
        )
        g, c = run.fitted.decide(dists, ok & np.array(known, dtype=bool))
        grades.append(g)
        confs.append(c)
    return confs, grades


def _choose(runs: Sequence[_TierRun], costs: Sequence[float], settings: _Settings) -> Plan:
    """The route, chosen on out-of-fold decisions of the pairs every tier graded."""
    shared = _shared(runs, range(len(runs)), "cal")
    human = np.array([lp.grade for lp in shared], dtype=np.int64)
    confs, grades = [], []
    for run in runs:
        index = {key: i for i, key in enumerate(run.fitted.keys)}
        rows = np.array([index[key_of(lp.pair)] for lp in shared], dtype=np.int64)
        confs.append(run.fitted.oof_conf[rows])
        grades.append(run.fitted.oof_grade[rows])
    return choose_route(settings.objective, human, confs, grades, costs, settings.budget)


def _route_grades(runs: Sequence[_TierRun], route: Route, pairs: Sequence[Pair]) -> Ints:
    confs, grades = _decisions(runs, pairs)
    return simulate(route, confs, grades, [1.0] * len(runs)).grades


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
    max_pairs_per_split: int | None = None,
    injection_pairs: int = 0,
    random_pairs: Sequence[Pair] = (),
    seed: int = 0,
    run_id: int | None = None,
) -> CalibrationOutcome:
    """Fit, choose the route, evaluate, store (see the module docstring).

    Args:
        random_pairs: (test query, random catalog product) pairs for the sanity figure.

    Raises:
        DissentError: the calibration or the test split has no human labels.
    """
    settings = _Settings(objective, budget, folds, seed, min_qwk, max_random_relevant)
    parts = {
        name: cap_split([lp for lp in labelled if lp.split == name], max_pairs_per_split, seed)
        for name in ("train", "calibration", "test")
    }
    cal, test = parts["calibration"], parts["test"]
    if not cal or not test:
        raise DissentError(
            f"calibration needs human labels in both the calibration and test splits "
            f"(have {len(cal)} and {len(test)} pairs); ingest more labels or change splits.fractions"
        )
    runs = [
        _run_tier(engine, i + 1, spec, prompt, (cal, test), settings, run_id)
        for i, spec in enumerate(track(tiers, "calibrating tiers", total=len(tiers)))
    ]
    evaluations = [_evaluate_tier(run, settings) for run in runs]
    plan = _choose(runs, [e.cost for e in evaluations], settings)
    for evaluation, cv, why in zip(evaluations, plan.single_tier, plan.bypassed, strict=True):
        evaluation.cv_score, evaluation.bypassed = cv, why
    cascade = _evaluate_cascade(runs, evaluations, plan, settings)
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
    runs: Sequence[_TierRun],
    evaluations: Sequence[TierEvaluation],
    plan: Plan,
    settings: _Settings,
) -> CascadeEvaluation:
    route = plan.route
    shared = _shared(runs, route.active, "test")
    human = np.array([lp.grade for lp in shared], dtype=np.int64)
    confs, grades = _decisions(runs, [lp.pair for lp in shared])
    costs = [e.cost for e in evaluations]
    outcome = simulate(route, confs, grades, costs)
    final = [int(g) if g >= 0 else None for g in outcome.grades]
    qwk_ci, exact_ci = _intervals(human, outcome.grades, settings.seed)
    top = runs[-1].spec.cost_weight is None
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
    )


def _sanity(
    engine: Engine,
    runs: Sequence[_TierRun],
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
    final = _route_grades(runs, route, shared)
    cascade.random_pairs = len(shared)
    cascade.random_relevant = float(np.mean(final >= 2)) if len(shared) else None


def _injection(
    engine: Engine,
    runs: Sequence[_TierRun],
    evaluations: Sequence[TierEvaluation],
    cascade: CascadeEvaluation,
    route: Route,
    prompt: Prompt,
    count: int,
    run_id: int | None,
) -> None:
    """How often an injected instruction changes a grade, per tier and for the cascade."""
    base = [lp.pair for lp in _shared(runs, route.active, "test")[:count]]
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
        both = (clean_g >= 0) & (dirty_g >= 0)
        evaluations[position - 1].flip_rate = (
            float(np.mean(clean_g[both] != dirty_g[both])) if both.any() else None
        )
    cap = min(runs[t].spec.max_eval_pairs or len(attacked) for t in route.active)
    before = _route_grades(runs, route, [a for a, _ in attacked[:cap]])
    after = _route_grades(runs, route, [b for _, b in attacked[:cap]])
    both = (before >= 0) & (after >= 0)
    cascade.flip_rate = float(np.mean(before[both] != after[both])) if both.any() else None


def _gate(cascade: CascadeEvaluation, settings: _Settings) -> Gate:
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
    runs: Sequence[_TierRun],
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
