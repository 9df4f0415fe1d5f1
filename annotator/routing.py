"""Choosing the cascade: which tiers run, in which order, and when each one stops a pair.

A :class:`Route` names the *active* tiers (in the configured order; the others are bypassed:
never called) and an acceptance threshold for each active tier but the last. A pair visits the
active tiers in order; a tier decides it when its confidence reaches the threshold, and the
last active tier decides whatever is left. A failed answer (confidence -1) never stops a pair.

:func:`choose_route` searches every non-empty set of active tiers and, for each, a grid of
thresholds (quantiles of each tier's confidences), scores each route on out-of-fold decisions
of the calibration split (:mod:`annotator.fitting` makes them by k-fold cross-validation), and
keeps the best route whose compute stays within the budget (ties: the cheaper). Every single
tier alone is one of the routes searched, so **on the calibration folds the chosen cascade
scores at least as well as the best single tier within the budget**. A route of several tiers
that costs more than that tier must also beat it reliably — in at least 95% of bootstrap
resamples of the pairs — or the single tier is kept: slow tiers are compared on a few hundred pairs, where a few
points are noise. A tier left out is reported as bypassed, with the reason.

Compute is measured as a share of sending every pair to the top (last configured) tier: a
pair costs the sum of the per-pair costs of the tiers it visits.

A failed pair counts against the route as the worst possible answer (the grade farthest from
the human's), so a route never gains by failing.

Example:
    >>> human = np.array([0, 1, 2, 3])
    >>> confidences = [np.array([0.9, 0.9, 0.2, 0.2]), np.ones(4)]
    >>> grades = [np.array([0, 1, 0, 0]), np.array([0, 1, 2, 3])]
    >>> plan = choose_route("exact", human, confidences, grades, [1.0, 10.0], budget=1.0)
    >>> plan.route, plan.score, round(plan.cost_share, 3)
    (Route(active=(0, 1), thresholds=(0.9,)), 1.0, 0.6)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from annotator.decision import Objective, score

__all__ = ["Plan", "Route", "choose_route", "simulate"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Route:
    """Active tiers (indices, in order) and the thresholds of all but the last."""

    active: tuple[int, ...]
    thresholds: tuple[float, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What a route does to a set of pairs."""

    decider: Ints  # the index of the deciding tier per pair
    grades: Ints  # the final grade per pair (-1: every visited tier failed)
    cost_share: float


def simulate(
    route: Route, confidences: Sequence[Floats], grades: Sequence[Ints], costs: Sequence[float]
) -> Outcome:
    """Send every pair down ``route``; ``confidences[i]`` and ``grades[i]`` are tier i's."""
    n = len(confidences[0])
    decider = np.full(n, route.active[-1], dtype=np.int64)
    spent = np.zeros(n, dtype=np.float64)
    open_ = np.ones(n, dtype=bool)
    for position, tier in enumerate(route.active):
        spent[open_] += costs[tier]
        if position == len(route.active) - 1:
            break
        take = open_ & (confidences[tier] >= route.thresholds[position])
        decider[take] = tier
        open_ &= ~take
    final = np.vstack(grades).astype(np.int64)[decider, np.arange(n)]
    share = float(spent.sum() / (n * costs[-1])) if n else 0.0
    return Outcome(decider, final, share)


def route_score(objective: Objective, human: Ints, predicted: Ints) -> float:
    """The objective on a route's final grades; a failed pair counts as the worst answer (the
    grade farthest from the human's), so failing never scores better than answering."""
    worst = np.where(human <= 1, 3, 0)
    return score(objective, human, np.where(predicted >= 0, predicted, worst))


def _grid(confidence: Floats, size: int) -> list[float]:
    valid = confidence[confidence >= 0]
    if not len(valid):
        return []
    qs = np.quantile(valid, np.linspace(0.0, 1.0, size + 1), method="higher")  # observed values
    return sorted({float(q) for q in qs})


def _routes(confidences: Sequence[Floats], grid: int) -> list[Route]:
    n = len(confidences)
    grids = [_grid(c, grid) for c in confidences]
    routes: list[Route] = []
    for size in range(1, n + 1):
        for active in itertools.combinations(range(n), size):
            options = [grids[t] for t in active[:-1]]
            routes.extend(Route(active, tuple(t)) for t in itertools.product(*options))
    return routes


@dataclass
class Plan:
    """The chosen route, its score and cost on the calibration folds, and why tiers are out."""

    route: Route
    score: float
    cost_share: float
    decided_share: list[float]
    single_tier: list[float]  # each tier alone, on the same pairs
    best_with: list[float | None]  # the best route through each tier (None: over budget)
    bypassed: list[str] = field(default_factory=list)  # why, per bypassed tier ("" if active)
    significance: float = 1.0  # share of resamples in which the chosen route beat the best tier


def choose_route(
    objective: Objective,
    human: Ints,
    confidences: Sequence[Floats],
    grades: Sequence[Ints],
    costs: Sequence[float],
    budget: float,
    grid: int = 12,
    confidence: float = 0.95,
    seed: int = 0,
) -> Plan:
    """The best route within ``budget`` (see the module docstring).

    A route of several tiers that costs more than the best single tier within the budget is
    kept only when it beats that tier with ``confidence`` (a bootstrap over the pairs: the share
    of resamples in which it scores higher, ties counting half); otherwise the tier is the
    route. Slow tiers are often compared on a few
    hundred pairs, where a difference of a few points is noise.

    When no route fits the budget, the cheapest one is returned (its cost share says so).
    """
    n_tiers = len(confidences)
    best: tuple[float, float, Route, Outcome] | None = None
    cheapest: tuple[float, float, Route, Outcome] | None = None
    best_with: list[float | None] = [None] * n_tiers
    single = [0.0] * n_tiers
    for route in _routes(confidences, grid):
        outcome = simulate(route, confidences, grades, costs)
        value = route_score(objective, human, outcome.grades)
        if len(route.active) == 1:
            single[route.active[0]] = value
        candidate = (value, outcome.cost_share, route, outcome)
        if cheapest is None or outcome.cost_share < cheapest[1]:
            cheapest = candidate
        if outcome.cost_share > budget + 1e-9:
            continue
        for tier in route.active:
            if best_with[tier] is None or value > best_with[tier]:  # type: ignore[operator]
                best_with[tier] = value
        if (
            best is None
            or value > best[0] + 1e-12
            or (abs(value - best[0]) <= 1e-12 and outcome.cost_share < best[1])
        ):
            best = candidate
    assert cheapest is not None, "no tier to route through"
    chosen = best or cheapest
    solo = _best_single(objective, human, confidences, grades, costs, budget)
    won = 1.0
    costlier = solo is not None and chosen[1] > solo[1] + 1e-12
    if len(chosen[2].active) > 1 and solo is not None and costlier:
        won = _bootstrap_win(objective, human, chosen[3].grades, solo[3].grades, seed)
        if won < confidence:
            chosen = solo
    value, share, route, outcome = chosen
    plan = Plan(
        route=route,
        score=value,
        cost_share=share,
        decided_share=[float(np.mean(outcome.decider == t)) for t in range(n_tiers)],
        single_tier=single,
        best_with=best_with,
        significance=won,
    )
    plan.bypassed = [_why(plan, t, objective) for t in range(n_tiers)]
    return plan


def _best_single(
    objective: Objective,
    human: Ints,
    confidences: Sequence[Floats],
    grades: Sequence[Ints],
    costs: Sequence[float],
    budget: float,
) -> tuple[float, float, Route, Outcome] | None:
    found = None
    for tier in range(len(confidences)):
        outcome = simulate(Route((tier,)), confidences, grades, costs)
        value = route_score(objective, human, outcome.grades)
        if outcome.cost_share <= budget + 1e-9 and (found is None or value > found[0]):
            found = (value, outcome.cost_share, Route((tier,)), outcome)
    return found


def _bootstrap_win(
    objective: Objective, human: Ints, ours: Ints, theirs: Ints, seed: int, resamples: int = 400
) -> float:
    """The share of bootstrap resamples of the pairs in which ``ours`` scores above ``theirs``."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(human), size=(resamples, len(human)))
    wins = 0.0
    for r in rows:
        a, b = (
            route_score(objective, human[r], ours[r]),
            route_score(objective, human[r], theirs[r]),
        )
        wins += 1.0 if a > b else 0.5 if a == b else 0.0
    return wins / resamples


def _why(plan: Plan, tier: int, objective: Objective) -> str:
    if tier in plan.route.active:
        return ""
    reach = plan.best_with[tier]
    if reach is None:
        return "every route through it exceeds the cost budget"
    if reach > plan.score:
        return (
            f"the best route through it ({objective} {reach:.3f} on the calibration folds, "
            f"against {plan.score:.3f} alone) beat the best tier in only "
            f"{plan.significance:.0%} of bootstrap resamples: not a reliable gain"
        )
    return (
        f"no route through it beats the chosen one on the calibration folds "
        f"({objective} {reach:.3f} at best, against {plan.score:.3f})"
    )
