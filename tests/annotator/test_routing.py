"""Routes through the tiers: simulation, scoring, and the search within the cost budget.

Every expected value is worked out by hand in the comment next to it; the guarantee (the
chosen route is never worse than the best single tier within the budget) is checked on
random cases.
"""

from __future__ import annotations

import numpy as np
import pytest

from annotator.decision import OBJECTIVES, Objective
from annotator.routing import Route, choose_route, route_score, simulate

# Three tiers, five pairs. Costs 1, 3, 6; "every pair to the top tier" = 5 * 6 = 30.
CONF = [
    np.array([0.9, 0.5, -1.0, 0.95, 0.3]),
    np.array([0.8, 0.85, 0.9, 0.5, 0.2]),
    np.array([0.7, 0.6, 0.6, 0.6, -1.0]),
]
GRADES = [
    np.array([2, 1, -1, 3, 0]),
    np.array([1, 2, 3, 0, 0]),
    np.array([0, 0, 1, 2, -1]),
]
COSTS = [1.0, 3.0, 6.0]


# ------------------------------------------------------------------------------- simulate


def test_simulate_the_first_confident_active_tier_decides() -> None:
    out = simulate(Route((0, 1, 2), (0.9, 0.8)), CONF, GRADES, COSTS)
    # pair 0: tier 0 at .9 >= .9 (inclusive)              -> tier 0, grade 2, cost 1
    # pair 1: tier 0 .5 < .9; tier 1 .85 >= .8             -> tier 1, grade 2, cost 1 + 3
    # pair 2: tier 0 failed (-1); tier 1 .9                -> tier 1, grade 3, cost 4
    # pair 3: tier 0 .95                                   -> tier 0, grade 3, cost 1
    # pair 4: .3, .2: the last tier decides, but it failed -> grade -1, cost 10
    assert out.decider.tolist() == [0, 1, 1, 0, 2]
    assert out.grades.tolist() == [2, 2, 3, 3, -1]
    assert out.cost_share == pytest.approx((1 + 4 + 4 + 1 + 10) / 30)


def test_simulate_does_not_charge_a_bypassed_tier() -> None:
    out = simulate(Route((0, 2), (0.9,)), CONF, GRADES, COSTS)
    # tier 1 is bypassed: pairs 0 and 3 stop at tier 0 (cost 1 each), the other three go
    # straight to tier 2 (cost 1 + 6 = 7 each, nothing for tier 1)
    assert out.decider.tolist() == [0, 2, 2, 0, 2]
    assert out.grades.tolist() == [2, 0, 1, 3, -1]
    assert out.cost_share == pytest.approx((1 + 7 + 7 + 1 + 7) / 30)


def test_simulate_a_single_tier_route() -> None:
    # tier 1 alone: every pair costs 3 -> 15/30; the top tier alone costs exactly 1
    middle = simulate(Route((1,)), CONF, GRADES, COSTS)
    assert middle.decider.tolist() == [1] * 5
    assert middle.grades.tolist() == [1, 2, 3, 0, 0]
    assert middle.cost_share == pytest.approx(0.5)
    assert simulate(Route((2,)), CONF, GRADES, COSTS).cost_share == pytest.approx(1.0)


def test_simulate_never_accepts_a_failed_answer() -> None:
    # Threshold 0 accepts every answer but pair 2's failed one at tier 0 (-1 < 0): it goes on
    # to tier 1, which accepts it (.9 >= 0).
    out = simulate(Route((0, 1, 2), (0.0, 0.0)), CONF, GRADES, COSTS)
    assert out.decider.tolist() == [0, 0, 1, 0, 0]
    assert out.grades.tolist() == [2, 1, 3, 3, 0]
    assert out.cost_share == pytest.approx((1 + 1 + 4 + 1 + 1) / 30)


def test_simulate_without_pairs_costs_nothing() -> None:
    empty, none = np.array([], dtype=np.float64), np.array([], dtype=np.int64)
    out = simulate(Route((0, 1), (0.5,)), [empty, empty], [none, none], [1.0, 2.0])
    assert out.decider.tolist() == [] and out.grades.tolist() == [] and out.cost_share == 0.0


# ---------------------------------------------------------------------------- route_score


def test_route_score_counts_failed_pairs_against_the_route() -> None:
    human = np.array([1, 1, 2, 3])
    predicted = np.array([1, -1, 2, 0])
    # the failed pair (human 1) counts as the grade farthest from it: 3 -> predicted 1 3 2 0
    # exact: pairs 0 and 2 right -> 2/4; within one: |0| |2| |0| |3| -> 2/4
    assert route_score("exact", human, predicted) == 0.5
    assert route_score("within_one", human, predicted) == 0.5
    # qwk: O = (1,1) (1,3) (2,2) (3,0): sum(w O) = (4 + 9)/9 = 13/9; rows (0, 2, 1, 1),
    #   cols (1, 1, 1, 1), n = 4: sum(w E) = (1/36) sum_i r_i sum_j (i - j)^2
    #   = (1/36)(2*6 + 1*6 + 1*14) = 32/36 = 8/9 -> QWK = 1 - 13/8 = -5/8
    assert route_score("qwk", human, predicted) == pytest.approx(-5 / 8)
    # nothing graded: every pair at its worst, predicted 3 3 0 0: exact 0; qwk: sum(w O) =
    #   (4 + 4 + 4 + 9)/9 = 21/9; cols (2, 0, 0, 2): sum(w E) = (1/36)(2*10 + 10 + 18) = 4/3
    #   -> QWK = 1 - (21/9)/(4/3) = -3/4
    assert route_score("exact", human, np.full(4, -1)) == 0.0
    assert route_score("qwk", human, np.full(4, -1)) == pytest.approx(-0.75)
    # a perfect route with one failure (human 3 -> 0): sum(w O) = 1; cols (1, 2, 1, 0):
    #   sum(w E) = (1/36)(2*2 + 1*6 + 1*18) = 7/9 -> QWK = 1 - 9/7 = -2/7
    assert route_score("qwk", human, np.array([1, 1, 2, -1])) == pytest.approx(-2 / 7)


def test_a_failed_pair_never_raises_the_qwk_score() -> None:
    human = np.array([0, 1, 2, 3])
    answered = np.array([3, 2, 1, 0])  # reversed: QWK -1
    one_failed = np.array([3, 2, 1, -1])  # human 3 fails as 0: the same as answering 0
    assert route_score("qwk", human, answered) == pytest.approx(-1.0)
    assert route_score("qwk", human, one_failed) == pytest.approx(-1.0)
    right = np.array([0, 1, 2, 3])
    assert route_score("qwk", human, np.array([0, 1, 2, -1])) < route_score("qwk", human, right)


# ---------------------------------------------------------------------------- choose_route

# Eight pairs, humans 0 1 2 3 0 1 2 3. "cheap" (cost 1) is confident (.9) and right on the
# first four, unsure (.2) and wrong on the last four; "top" (cost 10) is always right.
HUMAN = np.array([0, 1, 2, 3, 0, 1, 2, 3])
CHEAP_CONF = np.array([0.9] * 4 + [0.2] * 4)
CHEAP_GRADES = np.array([0, 1, 2, 3, 2, 3, 0, 1])
TOP_CONF = np.ones(8)


def test_choose_route_takes_the_two_tier_route_when_the_cheap_tier_is_right_when_sure() -> None:
    plan = choose_route(
        "exact", HUMAN, [CHEAP_CONF, TOP_CONF], [CHEAP_GRADES, HUMAN], [1.0, 10.0], budget=1.0
    )
    # The threshold grid of "cheap" is its observed confidences {.2, .9}. Routes (exact, cost):
    #   (cheap)            4/8 = .5, 8 * 1 / 80 = .1
    #   (top)              1.0,      80 / 80    = 1.0
    #   (cheap, top) t=.2  cheap takes all: .5, .1
    #   (cheap, top) t=.9  cheap takes 4 (right), top 4 (right): 1.0, (4*1 + 4*11)/80 = .6
    # Best 1.0 twice: the cheaper, .6, wins.
    assert plan.route == Route((0, 1), (0.9,))
    assert plan.score == 1.0
    assert plan.cost_share == pytest.approx(0.6)
    assert plan.decided_share == [0.5, 0.5]
    assert plan.single_tier == [0.5, 1.0]
    assert plan.best_with == [1.0, 1.0]
    assert plan.bypassed == ["", ""]


def test_choose_route_within_a_tight_budget_keeps_the_cheap_tier_alone() -> None:
    plan = choose_route(
        "exact", HUMAN, [CHEAP_CONF, TOP_CONF], [CHEAP_GRADES, HUMAN], [1.0, 10.0], budget=0.5
    )
    # Within .5 only (cheap) and (cheap, top) t=.2 fit, both .5 at .1: the first searched,
    # (cheap), is kept (a later equal score must be strictly cheaper). "top" is bypassed; the
    # best route through it within the budget is t=.2 at .5, which does not beat .5.
    assert plan.route == Route((0,))
    assert (plan.score, plan.cost_share) == (0.5, pytest.approx(0.1))
    assert plan.decided_share == [1.0, 0.0]
    assert plan.best_with == [0.5, 0.5]
    assert plan.bypassed == [
        "",
        "no route through it beats the chosen one on the calibration folds "
        "(exact 0.500 at best, against 0.500)",
    ]


def test_choose_route_bypasses_a_useless_middle_tier() -> None:
    # "middle" (cost 3) answers grade 1 for every pair with confidence .9: right on the two
    # pairs whose human grade is 1.
    middle_conf, middle_grades = np.full(8, 0.9), np.ones(8, dtype=np.int64)
    plan = choose_route(
        "exact",
        HUMAN,
        [CHEAP_CONF, middle_conf, TOP_CONF],
        [CHEAP_GRADES, middle_grades, HUMAN],
        [1.0, 3.0, 10.0],
        budget=1.0,
    )
    # (cheap, top) t=.9: 1.0 at .6, as above. Middle's grid is {.9}: it takes every pair that
    # reaches it. The best route through it: (cheap, middle[, top]) with t=.9: cheap's four
    # right + middle's grade 1 on humans 0 1 2 3 (one right) = 5/8 = .625.
    assert plan.route == Route((0, 2), (0.9,))
    assert plan.score == 1.0 and plan.cost_share == pytest.approx(0.6)
    assert plan.decided_share == [0.5, 0.0, 0.5]
    assert plan.single_tier == [0.5, 0.25, 1.0]
    assert plan.best_with == [1.0, 0.625, 1.0]
    assert plan.bypassed[0] == plan.bypassed[2] == ""
    assert plan.bypassed[1] == (
        "no route through it beats the chosen one on the calibration folds "
        "(exact 0.625 at best, against 1.000)"
    )


def test_a_tier_too_expensive_for_any_route_is_bypassed_for_its_cost() -> None:
    # "slow" comes first but costs 20 against the top tier's 10: every route through it sends
    # every pair through it, at least 8 * 20 / 80 = 2 > budget 1.
    plan = choose_route(
        "exact", HUMAN, [TOP_CONF, TOP_CONF], [HUMAN, HUMAN], [20.0, 10.0], budget=1.0
    )
    assert plan.route == Route((1,))
    assert plan.best_with == [None, 1.0]
    assert plan.bypassed == ["every route through it exceeds the cost budget", ""]


def test_without_a_route_within_budget_the_cheapest_comes_back() -> None:
    plan = choose_route(
        "exact", HUMAN, [CHEAP_CONF, TOP_CONF], [CHEAP_GRADES, HUMAN], [1.0, 10.0], budget=0.05
    )
    # every route costs at least .1 > .05: the cheapest, (cheap) at .1 (found first; the
    # equally cheap (cheap, top) t=.2 is not strictly cheaper), with its cost over budget
    assert plan.route == Route((0,))
    assert plan.cost_share == pytest.approx(0.1) and plan.cost_share > 0.05
    assert plan.score == 0.5
    assert plan.best_with == [None, None]
    assert plan.bypassed[1] == "every route through it exceeds the cost budget"


def _random_case(
    rng: np.random.Generator,
) -> tuple[Objective, np.ndarray, list[np.ndarray], list[np.ndarray], list[float], float]:
    n = int(rng.integers(20, 60))
    human = rng.integers(0, 4, n)
    confidences, grades = [], []
    for _ in range(3):
        skill = rng.uniform(0.0, 1.0)  # the share of pairs this tier knows the answer to
        knows = rng.random(n) < skill
        grade = np.where(knows, human, rng.integers(0, 4, n))
        confidence = np.round(rng.uniform(0.0, 1.0, n), 2)
        failed = rng.random(n) < 0.1
        confidences.append(np.where(failed, -1.0, confidence))
        grades.append(np.where(failed, -1, grade))
    costs = sorted(rng.uniform(0.1, 10.0, 3).tolist())
    objective = OBJECTIVES[int(rng.integers(0, 3))]
    return objective, human, confidences, grades, costs, float(rng.uniform(0.05, 1.2))


@pytest.mark.parametrize("seed", range(50))
def test_the_chosen_route_is_never_worse_than_a_single_tier_within_budget(seed: int) -> None:
    rng = np.random.default_rng(seed)
    objective, human, confidences, grades, costs, budget = _random_case(rng)
    plan = choose_route(objective, human, confidences, grades, costs, budget)
    # each tier alone, scored independently: its own grades, at cost share cost_t / cost_top
    alone = [route_score(objective, human, g) for g in grades]
    assert plan.single_tier == pytest.approx(alone)
    affordable = [alone[t] for t in range(3) if costs[t] / costs[-1] <= budget + 1e-9]
    if affordable:
        assert plan.score >= max(affordable) - 1e-12
        assert plan.cost_share <= budget + 1e-9
    # the plan's figures are those of its route
    out = simulate(plan.route, confidences, grades, costs)
    assert plan.score == pytest.approx(route_score(objective, human, out.grades))
    assert plan.cost_share == pytest.approx(out.cost_share)
    assert sum(plan.decided_share) == pytest.approx(1.0)
    assert all((why == "") == (t in plan.route.active) for t, why in enumerate(plan.bypassed))


def test_a_costlier_route_must_beat_the_best_tier_reliably() -> None:
    # 40 pairs; "cheap" (cost 1) is right on 36; "slow" (cost 100) is right on all 40 but
    # the route through it may only fix the 4 pairs where cheap is unsure. The gain is real:
    # every resample without those 4 pairs ties, every other one favours the route.
    rng = np.random.default_rng(0)
    human = rng.integers(0, 4, size=40)
    cheap = human.copy()
    cheap[:4] = (human[:4] + 2) % 4
    cheap_conf = np.where(np.arange(40) < 4, 0.2, 0.9)
    slow_conf = np.ones(40)
    # budget 0.5: "slow" alone (cost share 1) is out, so the route is compared with "cheap"
    plan = choose_route(
        "exact", human, [cheap_conf, slow_conf], [cheap, human], [1.0, 100.0], budget=0.5
    )
    assert plan.route == Route((0, 1), (0.9,)) and plan.significance >= 0.95
    # the same gain on 1 pair of 40 is not reliable: the cheap tier alone is kept, and the
    # slow tier's bypass says why
    cheap2 = human.copy()
    cheap2[:1] = (human[:1] + 2) % 4
    conf2 = np.where(np.arange(40) < 1, 0.2, 0.9)
    plan2 = choose_route(
        "exact", human, [conf2, slow_conf], [cheap2, human], [1.0, 100.0], budget=0.5
    )
    assert plan2.route == Route((0,)) and plan2.significance < 0.95
    assert "bootstrap" in plan2.bypassed[1]
