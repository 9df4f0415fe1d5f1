"""One tier fitted on the calibration split: its answers, its maps in and out of fold.

:func:`run_tier` grades a tier's calibration and test pairs (a slow tier: a seeded subsample,
``max_eval_pairs``), then fits its per-class isotonic maps and its decider for the objective
twice: by k-fold cross-validation by query inside the calibration split, giving out-of-fold
decisions for choosing the route, and on the whole split, for the test split and annotation.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine

from annotator.backends.base import Answer, Pair
from annotator.calibration import Isotonic
from annotator.cascade import TierSpec
from annotator.decision import Decider, Objective, fit_decider
from annotator.judgments import grade_cached, key_of
from annotator.pairs import LabelledPair
from annotator.routing import Route, route_score, simulate
from core.progress import counter
from prompts import Prompt

__all__ = [
    "Fitted",
    "Settings",
    "TierRun",
    "cap_split",
    "decisions",
    "matrix",
    "route_grades",
    "run_tier",
    "shared_pairs",
]

MIN_CALIBRATION_PAIRS = 10
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


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


def matrix(answers: Sequence[Answer]) -> tuple[Floats, Bools]:
    ok = np.array([a.ok for a in answers], dtype=bool)
    dists = np.array([a.distribution if a.ok else [0.25] * 4 for a in answers], dtype=np.float64)
    return dists.reshape(-1, 4), ok


@dataclass
class Fitted:
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
) -> Fitted:
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
        fitted = Fitted(iso, decider, [], oof_grade, oof_conf)
        oof_grade[held], oof_conf[held] = fitted.decide(dists[held], ok[held])
    iso, decider = _fit_maps(objective, dists, ok, human)
    return Fitted(iso, decider, [key_of(lp.pair) for lp in cal], oof_grade, oof_conf)


@dataclass
class TierRun:
    """One tier's answers on its calibration and test pairs, fitted."""

    spec: TierSpec
    cal: list[LabelledPair]
    test: list[LabelledPair]
    answers: dict[tuple[int, str], Answer]
    fitted: Fitted
    model_calls: int
    cache_hits: int

    def matrix(self, pairs: Sequence[Pair]) -> tuple[Floats, Bools]:
        return matrix([self.answers[key_of(p)] for p in pairs])


def run_tier(
    engine: Engine,
    position: int,
    spec: TierSpec,
    prompt: Prompt,
    parts: tuple[list[LabelledPair], list[LabelledPair]],
    settings: Settings,
    run_id: int | None,
) -> TierRun:
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
    dists, ok = matrix([call.answers[key_of(lp.pair)] for lp in cal])
    fitted = _fit_tier(settings.objective, cal, dists, ok, settings.folds, settings.seed)
    return TierRun(spec, cal, test, call.answers, fitted, call.model_calls, call.cache_hits)


@dataclass(frozen=True)
class Settings:
    objective: Objective
    budget: float
    folds: int
    seed: int
    min_qwk: float | None
    max_random_relevant: float


def cost(spec: TierSpec, answers: Sequence[Answer]) -> float:
    seconds = float(np.mean([a.latency_s for a in answers])) if answers else 0.0
    return spec.cost_weight if spec.cost_weight is not None else max(seconds, 1e-9)


def shared_pairs(runs: Sequence[TierRun], active: Sequence[int], split: str) -> list[LabelledPair]:
    """The pairs of ``split`` that every tier of ``active`` graded (the slowest one's)."""
    smallest = min((runs[t] for t in active), key=lambda r: len(getattr(r, split)))
    return list(getattr(smallest, split))


def decisions(runs: Sequence[TierRun], pairs: Sequence[Pair]) -> tuple[list[Floats], list[Ints]]:
    """Every tier's (full-fit) confidence and grade on ``pairs`` (-1 where it has none)."""
    confs, grades = [], []
    for run in runs:
        known = [key_of(p) in run.answers for p in pairs]
        dists, ok = matrix([run.answers.get(key_of(p), Answer.failed("not graded")) for p in pairs])
        g, c = run.fitted.decide(dists, ok & np.array(known, dtype=bool))
        grades.append(g)
        confs.append(c)
    return confs, grades


def route_grades(runs: Sequence[TierRun], route: Route, pairs: Sequence[Pair]) -> Ints:
    confs, grades = decisions(runs, pairs)
    return simulate(route, confs, grades, [1.0] * len(runs)).grades


def human_cv_scores(
    runs: Sequence[TierRun], route: Route, objective: Objective
) -> tuple[list[float | None], float | None]:
    """Each tier's and ``route``'s out-of-fold score on the calibration pairs a person graded,
    leaving out the random products calibration adds as Irrelevant (easy to get right, they
    make a cross-validated score promise more than the test split gives); None with fewer than
    two such pairs."""
    shared = shared_pairs(runs, range(len(runs)), "cal")
    keep = np.array([bool(lp.source) for lp in shared], dtype=bool)
    if keep.sum() < 2:
        return [None] * len(runs), None
    human = np.array([lp.grade for lp in shared], dtype=np.int64)[keep]
    confs, grades = [], []
    for run in runs:
        index = {key: i for i, key in enumerate(run.fitted.keys)}
        rows = np.array([index[key_of(lp.pair)] for lp in shared], dtype=np.int64)[keep]
        confs.append(run.fitted.oof_conf[rows])
        grades.append(run.fitted.oof_grade[rows])
    alone: list[float | None] = [route_score(objective, human, g) for g in grades]
    routed = simulate(route, confs, grades, [1.0] * len(runs)).grades
    return alone, route_score(objective, human, routed)
