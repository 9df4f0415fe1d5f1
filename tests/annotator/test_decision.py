"""Decisions on the ordinal scale: QWK, the objectives' scores, deciders and fitted cutpoints.

Every expected value is worked out by hand in the comment next to it. QWK by hand:
``1 - sum(w * O) / sum(w * E)`` with ``w_ij = (i - j)^2 / 9``, ``O`` the observed counts and
``E_ij = rows_i * cols_j / n``. A useful sum: ``S_j = sum_i (i - j)^2`` over i = 0..3 is
14, 6, 6, 14 for j = 0, 1, 2, 3.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from annotator.decision import OBJECTIVES, Decider, fit_decider, qwk, score

# ------------------------------------------------------------------------------------ qwk


def test_qwk_perfect_and_reversed() -> None:
    assert qwk([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
    # reversed: observed sum(w O) = (9 + 1 + 1 + 9) / 9 = 20/9; rows = cols = 1 each, so
    # sum(w E) = (1/9)(1/4)(14 + 6 + 6 + 14) = 40/36 = 10/9 -> 1 - 2 = -1
    assert qwk([0, 1, 2, 3], [3, 2, 1, 0]) == pytest.approx(-1.0)


def test_qwk_of_a_small_case_by_hand() -> None:
    # human 0 1 2 3, predicted 0 1 3 3: one error of distance 1 -> sum(w O) = 1/9.
    # rows (1, 1, 1, 1), cols (1, 1, 0, 2), n = 4: sum(w E) = (1/9)(1/4) sum_j cols_j S_j
    #   = (1/36)(14 + 6 + 0 + 2 * 14) = 48/36 = 4/3  ->  QWK = 1 - (1/9) / (4/3) = 11/12
    assert qwk([0, 1, 2, 3], [0, 1, 3, 3]) == pytest.approx(11 / 12)


def test_qwk_undefined_cases_are_zero() -> None:
    assert qwk([], []) == 0.0
    # both sides one grade: sum(w E) = 0 -> 0 by convention
    assert qwk([2, 2, 2], [2, 2, 2]) == 0.0
    # a constant prediction against varied humans: O = E column for column -> exactly 0
    assert qwk([0, 1, 2, 3], [1, 1, 1, 1]) == pytest.approx(0.0)


# ---------------------------------------------------------------------------------- score


def test_score_per_objective() -> None:
    human, predicted = [0, 1, 2, 3], [0, 2, 2, 0]
    # exact: pairs 0 and 2 -> 2/4; within one: |0|, |1|, |0| yes, |3| no -> 3/4
    assert score("exact", human, predicted) == 0.5
    assert score("within_one", human, predicted) == 0.75
    assert score("qwk", human, predicted) == qwk(human, predicted)
    assert score("exact", [], []) == 0.0 and score("within_one", [], []) == 0.0
    assert OBJECTIVES == ("qwk", "exact", "within_one")


# -------------------------------------------------------------------------------- Decider

# Four hand-built distributions and their expected grades E[G] = sum g p_g:
#   a (.1, .2, .3, .4): .2 + .6 + 1.2          = 2.0
#   b (.5, 0, 0, .5):   1.5                    = 1.5
#   c (0, 0, 0, 1):                             = 3.0
#   d (.6, .1, .1, .2): .1 + .2 + .6           = 0.9
DISTS = np.array(
    [
        [0.1, 0.2, 0.3, 0.4],
        [0.5, 0.0, 0.0, 0.5],
        [0.0, 0.0, 0.0, 1.0],
        [0.6, 0.1, 0.1, 0.2],
    ]
)


def test_qwk_decider_cuts_the_expected_grade_at_the_default_cutpoints() -> None:
    grades, confidence = Decider("qwk").decide(DISTS)
    # cuts .5 / 1.5 / 2.5, a value on a cut goes up (1.5 -> 2): a 2, b 2, c 3, d 1
    assert grades.tolist() == [2, 2, 3, 1]
    # confidence 1 - sum_g p_g (g - grade)^2 / 9:
    #   a: (.1*4 + .2*1 + 0 + .4*1) / 9 = 1/9    -> 8/9
    #   b: (.5*4 + .5*1) / 9 = 2.5/9             -> 6.5/9
    #   c: 0                                     -> 1
    #   d: (.6*1 + 0 + .1*1 + .2*4) / 9 = 1.5/9  -> 7.5/9
    assert confidence.tolist() == pytest.approx([8 / 9, 6.5 / 9, 1.0, 7.5 / 9])


def test_qwk_decider_uses_its_fitted_cutpoints() -> None:
    grades, confidence = Decider("qwk", (1.0, 2.0, 2.9)).decide(DISTS)
    # a: 2.0 reaches cut 2.0 -> 2; b: 1.5 -> 1; c: 3.0 -> 3; d: 0.9 < 1.0 -> 0
    assert grades.tolist() == [2, 1, 3, 0]
    #   a: 1/9 as before                          -> 8/9
    #   b: grade 1: (.5*1 + .5*4) / 9 = 2.5/9     -> 6.5/9
    #   d: grade 0: (.1*1 + .1*4 + .2*9) / 9 = 2.3/9 -> 6.7/9
    assert confidence.tolist() == pytest.approx([8 / 9, 6.5 / 9, 1.0, 6.7 / 9])


def test_exact_decider_is_the_argmax_and_its_probability() -> None:
    grades, confidence = Decider("exact").decide(DISTS)
    # b ties .5 / .5 between 0 and 3: the argmax takes the first
    assert grades.tolist() == [3, 0, 3, 0]
    assert confidence.tolist() == pytest.approx([0.4, 0.5, 1.0, 0.6])


def test_within_one_decider_takes_the_most_mass_within_one_grade() -> None:
    grades, confidence = Decider("within_one").decide(DISTS)
    # mass within one of g = 0, 1, 2, 3:
    #   a: .3 .6 .9 .7 -> 2 (.9)
    #   b: .5 .5 .5 .5 -> 0 (.5: a tie everywhere, and between the likeliest grades 0 and 3,
    #                        the first)
    #   c: 0  0  1  1  -> 3 (1.0: a tie of 2 and 3, broken by the likelier grade, 3)
    #   d: .7 .8 .4 .3 -> 1 (.8)
    assert grades.tolist() == [2, 0, 3, 1]
    assert confidence.tolist() == pytest.approx([0.9, 0.5, 1.0, 0.8])


def test_a_certain_answer_is_decided_as_its_grade_by_every_objective() -> None:
    certain = np.eye(4)
    for objective in OBJECTIVES:
        # within_one: for one-hot g, grades g - 1, g (and g + 1) all hold the whole mass
        # within one of them; the tie goes to the likelier grade, g itself
        assert Decider(objective).grades(certain).tolist() == [0, 1, 2, 3], objective


def test_decider_json_round_trip() -> None:
    for decider in (Decider("qwk", (0.65, 1.65, 2.6)), Decider("exact"), Decider("within_one")):
        # through real JSON: the cutpoints come back as a list and are made a tuple again
        again = Decider.from_json(json.loads(json.dumps(decider.to_json())))
        assert again == decider
    assert Decider("qwk", (0.65, 1.65, 2.6)).to_json() == {
        "objective": "qwk",
        "cutpoints": (0.65, 1.65, 2.6),
    }
    assert Decider.from_json({"objective": "qwk", "cutpoints": None}) == Decider("qwk")


# ---------------------------------------------------------------------------- fit_decider

# A biased tier: its expected grade is always .6 above the human grade (capped at 3):
#   human 0: (.4, .6, 0, 0)  E = .6;   human 1: (0, .4, .6, 0)  E = 1.6
#   human 2: (0, 0, .4, .6)  E = 2.6;  human 3: (0, 0, 0, 1)    E = 3.0 (the cap)
BIASED = {0: [0.4, 0.6, 0, 0], 1: [0, 0.4, 0.6, 0], 2: [0, 0, 0.4, 0.6], 3: [0, 0, 0, 1.0]}
HUMAN = [g for g in range(4) for _ in range(10)]  # ten pairs of each grade, 40 in all
BIASED_DISTS = np.array([BIASED[g] for g in HUMAN], dtype=np.float64)


def test_fitted_cutpoints_absorb_a_tiers_bias() -> None:
    default = Decider("qwk", (0.5, 1.5, 2.5)).grades(BIASED_DISTS)
    # the default cuts send .6 -> 1, 1.6 -> 2, 2.6 -> 3, 3.0 -> 3: one grade too high for 30
    # pairs. QWK: sum(w O) = 30/9; rows (10, 10, 10, 10), cols (0, 10, 10, 20), n = 40:
    #   sum(w E) = (1/9)(10/40)(10*6 + 10*6 + 20*14) = 400/36 = 100/9 -> 1 - 30/100 = .7
    assert qwk(HUMAN, default) == pytest.approx(0.7)

    fitted = fit_decider("qwk", BIASED_DISTS, HUMAN)
    # every human grade is recovered: QWK 1 > .7
    assert fitted.grades(BIASED_DISTS).tolist() == HUMAN
    assert qwk(HUMAN, fitted.grades(BIASED_DISTS)) == 1.0
    c1, c2, c3 = fitted.cutpoints or (0.0, 0.0, 0.0)
    # Coordinate ascent from (.5, 1.5, 2.5) on the .05 grid, keeping only strict gains: c1
    # first gains at .65 (just above .6), c2 at 1.65, c3 at 2.6 -- in floating point
    # .4*2 + .6*3 = 2.5999999999999996, so the grid value 2.6 already lies above it.
    assert (c1, c2, c3) == pytest.approx((0.65, 1.65, 2.6))
    assert 0.6 < c1 <= 1.6 < c2 and c3 <= 3.0


def test_fewer_than_twenty_pairs_keep_the_default_cutpoints() -> None:
    # 19 of the same biased pairs: too few to fit, so the cuts stay at .5 / 1.5 / 2.5
    assert fit_decider("qwk", BIASED_DISTS[:19], HUMAN[:19]) == Decider("qwk", (0.5, 1.5, 2.5))
    # and 20 are enough
    twenty = [0] * 10 + [1] * 10
    assert fit_decider("qwk", BIASED_DISTS[:20], twenty).cutpoints != (0.5, 1.5, 2.5)


def test_objectives_without_parameters_fit_nothing() -> None:
    assert fit_decider("exact", BIASED_DISTS, HUMAN) == Decider("exact")
    assert fit_decider("within_one", BIASED_DISTS, HUMAN) == Decider("within_one")
