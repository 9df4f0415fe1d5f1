"""Isotonic calibration, the cascade simulation and the threshold search, on hand-sized arrays.

Every expected value is worked out by hand in the comments next to it.
"""

from __future__ import annotations

import numpy as np
import pytest

from annotator.calibration import Isotonic, choose_thresholds, simulate_cascade


def test_fit_pools_violators_per_grade_and_apply_renormalises() -> None:
    # Four pairs; column c is the tier's probability of grade c.
    dists = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],  # human 3
            [0.2, 0.4, 0.1, 0.3],  # human 0
            [0.3, 0.1, 0.4, 0.2],  # human 1
            [0.4, 0.3, 0.2, 0.1],  # human 0
        ]
    )
    maps = Isotonic.fit(dists, [3, 0, 1, 0])
    # Per grade, the points (p_c, human == c) sorted by p_c, and the PAVA fit:
    # grade 0: (.1,0) (.2,1) (.3,0) (.4,1) -> .2/.3 pooled to .5 -> 0, .5, .5, 1
    # grade 1: (.1,1) (.2,0) (.3,0) (.4,0) -> all pooled: 1/4 = .25 everywhere
    # grade 2: all 0 -> 0 everywhere
    # grade 3: (.1,0) (.2,0) (.3,0) (.4,1) -> 0, 0, 0, 1 (already monotone)
    fitted = [
        [float(np.interp(x, maps.xs[c], maps.ys[c])) for x in (0.1, 0.2, 0.3, 0.4)]
        for c in range(4)
    ]
    assert fitted == [
        pytest.approx([0.0, 0.5, 0.5, 1.0]),
        pytest.approx([0.25, 0.25, 0.25, 0.25]),
        pytest.approx([0.0, 0.0, 0.0, 0.0]),
        pytest.approx([0.0, 0.0, 0.0, 1.0]),
    ]
    out = maps.apply(
        np.array(
            [
                [0.1, 0.2, 0.3, 0.4],
                [0.25, 0.25, 0.25, 0.25],
                [0.9, 0.05, 0.05, 0.9],
            ]
        )
    )
    # row 1: maps to (0, .25, 0, 1), sum 1.25 -> (0, .2, 0, .8)
    # row 2: grade 0 at .25 interpolates between .5 and .5 -> .5; grade 3 between 0 and 0 -> 0:
    #        (.5, .25, 0, 0), sum .75 -> (2/3, 1/3, 0, 0)
    # row 3: outside [.1, .4] clips to the end values: (1, .25, 0, 1), sum 2.25
    #        -> (4/9, 1/9, 0, 4/9)
    assert out.tolist() == [
        pytest.approx([0.0, 0.2, 0.0, 0.8]),
        pytest.approx([2 / 3, 1 / 3, 0.0, 0.0]),
        pytest.approx([4 / 9, 1 / 9, 0.0, 4 / 9]),
    ]


def test_apply_maps_all_zero_rows_to_uniform_and_clips_out_of_range() -> None:
    # Each grade: 0 up to .5, then linear to 1 at 1.0 (f(x) = 2x - 1 on [.5, 1]).
    maps = Isotonic(xs=[[0.5, 1.0]] * 4, ys=[[0.0, 1.0]] * 4)
    out = maps.apply(
        np.array(
            [
                [0.1, 0.2, 0.3, 0.4],  # every value <= .5 -> all zeros -> uniform
                [0.75, 0.2, 1.0, 0.0],  # (.5, 0, 1, 0), sum 1.5 -> (1/3, 0, 2/3, 0)
                [1.5, -0.5, 0.75, 0.5],  # clipped: (1, 0, .5, 0), sum 1.5 -> (2/3, 0, 1/3, 0)
            ]
        )
    )
    assert out.tolist() == [
        pytest.approx([0.25, 0.25, 0.25, 0.25]),
        pytest.approx([1 / 3, 0.0, 2 / 3, 0.0]),
        pytest.approx([2 / 3, 0.0, 1 / 3, 0.0]),
    ]


def test_isotonic_json_round_trip_keeps_the_breakpoints() -> None:
    maps = Isotonic(xs=[[0.0, 1.0]] * 4, ys=[[0.1, 0.9], [0.2, 0.8], [0.0, 0.5], [0.3, 0.3]])
    again = Isotonic.from_json(maps.to_json())
    assert again.xs == [[0.0, 1.0]] * 4
    assert again.ys == [[0.1, 0.9], [0.2, 0.8], [0.0, 0.5], [0.3, 0.3]]


# Three tiers, five pairs. Tier costs 1, 3, 6: cumulative 1, 4, 10; top tier only = 5 * 6 = 30.
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


def test_simulate_cascade_first_confident_tier_decides() -> None:
    decider, final, cost = simulate_cascade(CONF, GRADES, [0.9, 0.8], COSTS)
    # pair 0: tier 0 at .9 >= .9 (the threshold is inclusive)   -> tier 0, grade 2
    # pair 1: tier 0 .5 < .9; tier 1 .85 >= .8                   -> tier 1, grade 2
    # pair 2: tier 0 failed (-1); tier 1 .9 >= .8                -> tier 1, grade 3
    # pair 3: tier 0 .95                                         -> tier 0, grade 3
    # pair 4: .3 < .9, .2 < .8: the last tier decides, but it failed -> grade -1
    assert decider.tolist() == [0, 1, 1, 0, 2]
    assert final.tolist() == [2, 2, 3, 3, -1]
    # cumulative cost of the deciders: 1 + 4 + 4 + 1 + 10 = 20; 20 / 30 = 2/3
    assert cost == pytest.approx(2 / 3)


def test_simulate_cascade_never_accepts_a_failed_answer() -> None:
    # Threshold 0 accepts every answer, except pair 2's failed one (confidence -1 < 0), which
    # goes on to tier 1 (.9 >= 0).
    decider, final, cost = simulate_cascade(CONF, GRADES, [0.0, 0.0], COSTS)
    assert decider.tolist() == [0, 0, 1, 0, 0]
    assert final.tolist() == [2, 1, 3, 3, 0]
    # 1 + 1 + 4 + 1 + 1 = 8; 8 / 30
    assert cost == pytest.approx(8 / 30)


def test_simulate_cascade_without_pairs_costs_nothing() -> None:
    empty = np.array([], dtype=np.float64)
    none = np.array([], dtype=np.int64)
    decider, final, cost = simulate_cascade([empty, empty], [none, none], [0.5], [1.0, 2.0])
    assert decider.tolist() == [] and final.tolist() == [] and cost == 0.0


# choose_thresholds: three tiers, two pairs, human grade 1 for both.
#   pair 0: tier 0 conf .9 grade 0 (wrong); tier 1 conf .9 grade 1 (right); tier 2 grade 1 (right)
#   pair 1: tier 0 conf .5 grade 0 (wrong); tier 1 conf .9 grade 0 (wrong); tier 2 grade 1 (right)
# Costs 1, 1, 10: cumulative 1, 2, 12; top tier only = 2 * 10 = 20.
# grid=1 takes the 0 and 1 quantiles (min, max) of each tier's valid confidences, plus 0 and 1.01:
#   tier 0: 0, .5, .9, 1.01; tier 1: 0, .9, 1.01. Every setting, in search order:
#   t0 in {0, .5}: tier 0 takes both                -> agreement 0,  cost (1+1)/20 = .10
#   (.9, 0), (.9, .9): p0 tier 0, p1 tier 1          -> agreement 0,  cost (1+2)/20 = .15
#   (.9, 1.01): p0 tier 0 (wrong), p1 tier 2 (right)  -> agreement .5, cost (1+12)/20 = .65
#   (1.01, 0), (1.01, .9): both tier 1               -> agreement .5, cost (2+2)/20 = .20
#   (1.01, 1.01): both tier 2                        -> agreement 1,  cost (12+12)/20 = 1.2
SEARCH_CONF = [np.array([0.9, 0.5]), np.array([0.9, 0.9]), np.array([0.4, 0.4])]
SEARCH_GRADES = [np.array([0, 0]), np.array([1, 0]), np.array([1, 1])]
HUMAN = np.array([1, 1])
SEARCH_COSTS = [1.0, 1.0, 10.0]


def test_choose_thresholds_takes_the_best_agreement_within_budget() -> None:
    choice = choose_thresholds(SEARCH_CONF, SEARCH_GRADES, HUMAN, SEARCH_COSTS, 2.0, grid=1)
    assert choice.thresholds == [1.01, 1.01]
    assert choice.agreement == 1.0
    assert choice.cost_share == pytest.approx(1.2)
    assert choice.decided_share == [0.0, 0.0, 1.0]


def test_choose_thresholds_prefers_the_cheaper_of_equal_agreements() -> None:
    # Budget 1: the best agreement is .5, reached first by (.9, 1.01) at .65 and later by
    # (1.01, 0) at .20: the cheaper, later one wins; (1.01, .9) costs the same, so it does not.
    choice = choose_thresholds(SEARCH_CONF, SEARCH_GRADES, HUMAN, SEARCH_COSTS, 1.0, grid=1)
    assert choice.thresholds == [1.01, 0.0]
    assert choice.agreement == 0.5
    assert choice.cost_share == pytest.approx(0.2)
    assert choice.decided_share == [0.0, 1.0, 0.0]


def test_choose_thresholds_returns_the_cheapest_setting_when_none_fits_the_budget() -> None:
    # Budget .05: every setting costs at least .10, so the cheapest one comes back (the first
    # .10 setting, (0, 0): later ones at .10 are not cheaper), with its cost above the budget.
    choice = choose_thresholds(SEARCH_CONF, SEARCH_GRADES, HUMAN, SEARCH_COSTS, 0.05, grid=1)
    assert choice.thresholds == [0.0, 0.0]
    assert choice.agreement == 0.0
    assert choice.cost_share == pytest.approx(0.1)
    assert choice.decided_share == [1.0, 0.0, 0.0]


def test_choose_thresholds_budget_boundary_is_inclusive() -> None:
    # Budget exactly .20: (1.01, 0) at .20 is within budget (agreement .5), (.9, 1.01) at .65 is not.
    choice = choose_thresholds(SEARCH_CONF, SEARCH_GRADES, HUMAN, SEARCH_COSTS, 0.2, grid=1)
    assert choice.thresholds == [1.01, 0.0]
    assert choice.agreement == 0.5
