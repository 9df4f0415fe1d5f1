"""Agreement metrics, the confusion matrix and reliability bins, checked against hand arithmetic.

QWK by hand (K = 4 grades): w_ij = (i - j)^2 / (K - 1)^2, O the observed counts, E the outer
product of the marginals / n, kappa = 1 - sum(w * O) / sum(w * E) (the 1/9 cancels).
"""

from __future__ import annotations

import numpy as np
import pytest

from annotator.metrics import Agreement, agreement, confusion, reliability, wilson_interval

HUMAN = [0, 1, 2, 3, 3, 0]
PREDICTED: list[int | None] = [0, 2, 2, 3, None, 1]


def test_agreement_counts_only_graded_pairs() -> None:
    a = agreement(HUMAN, PREDICTED)
    assert isinstance(a, Agreement)
    # pair 4 has no grade: 5 of 6 graded
    assert (a.n, a.graded) == (6, 5)
    assert a.coverage == pytest.approx(5 / 6)
    # graded pairs: human 0 1 2 3 0, predicted 0 2 2 3 1: equal at 0, 2, 3 -> 3/5
    assert a.exact == pytest.approx(0.6)
    # differences 0 1 0 0 1: all within one
    assert a.within_one == 1.0


def test_qwk_by_hand_on_four_grades() -> None:
    # Graded pairs (human, predicted): (0,0) (1,2) (2,2) (3,3) (0,1); n = 5.
    # sum w*O = [(1-2)^2 + (0-1)^2] / 9 = 2/9.
    # Human marginals r = (2, 1, 1, 1), predicted c = (1, 1, 2, 1).
    # sum_ij r_i c_j (i-j)^2: i=0: 2*(0 + 1 + 2*4 + 9) = 36; i=1: 1 + 0 + 2 + 4 = 7;
    #   i=2: 4 + 1 + 0 + 1 = 6; i=3: 9 + 4 + 2 + 0 = 15; total 64 -> sum w*E = 64 / (9 * 5).
    # kappa = 1 - (2/9) / (64/45) = 1 - 90/576 = 0.84375
    assert agreement(HUMAN, PREDICTED).qwk == pytest.approx(0.84375)


def test_qwk_and_ordinal_alpha_on_two_grades() -> None:
    # human 0 0 1 1, predicted 0 1 1 1.
    # QWK: O = {(0,0): 1, (0,1): 1, (1,1): 2}, sum w*O = 1/9; r = (2, 2), c = (1, 3):
    #   sum r_i c_j (i-j)^2 = 2*3 + 2*1 = 8, sum w*E = 8 / (9*4) = 2/9; kappa = 1 - 1/2 = 0.5.
    # Alpha: coincidences o_00 = 2, o_01 = o_10 = 1, o_11 = 4; n_0 = 3, n_1 = 5, n = 8. With only
    #   two adjacent values the ordinal distance is one constant, so alpha is the nominal one:
    #   1 - (n - 1) * (o_01 + o_10) / (2 n_0 n_1) = 1 - 7 * 2 / 30 = 8/15.
    a = agreement([0, 0, 1, 1], [0, 1, 1, 1])
    assert a.qwk == pytest.approx(0.5)
    assert a.alpha == pytest.approx(8 / 15)
    assert a.exact == pytest.approx(0.75) and a.within_one == 1.0


def test_perfect_agreement_is_one_everywhere() -> None:
    a = agreement([0, 1, 2, 3], [0, 1, 2, 3])
    assert (a.exact, a.within_one, a.qwk, a.coverage) == (1.0, 1.0, 1.0, 1.0)
    assert a.alpha == pytest.approx(1.0)


def test_docstring_example() -> None:
    a = agreement([0, 1, 2, 3], [0, 1, 3, None])
    # graded: (0,0) (1,1) (2,3): exact 2/3, within one 3/3, coverage 3/4
    assert (a.coverage, a.within_one) == (0.75, 1.0)
    assert a.exact == pytest.approx(2 / 3)


def test_kappa_and_alpha_are_none_when_one_grade_is_used() -> None:
    a = agreement([2, 2, 2], [2, 2, None])
    assert a.qwk is None and a.alpha is None
    # the other figures are still defined
    assert (a.n, a.graded, a.exact, a.within_one) == (3, 2, 1.0, 1.0)


def test_kappa_is_zero_when_only_one_side_uses_a_single_grade() -> None:
    # human all 0, predicted 0, 1: O = [[1, 1], ...] equals E = outer([2], [1, 1]) / 2, so the
    # weighted disagreement observed equals the expected one: kappa = 1 - 1 = 0
    assert agreement([0, 0], [0, 1]).qwk == 0.0
    assert agreement([0, 0], [0, 0]).qwk is None  # one grade on both sides: 0/0


def test_no_graded_pair_leaves_every_metric_undefined() -> None:
    assert agreement([1, 2], [None, None]) == Agreement(n=2, graded=0, coverage=0.0)
    assert agreement([], []) == Agreement(n=0, graded=0, coverage=0.0)


def test_confusion_rows_are_human_columns_predicted() -> None:
    # graded (human, predicted): (0,0) (1,2) (2,2) (3,3) (0,1); pair 4 (3, None) is left out
    assert confusion(HUMAN, PREDICTED) == [
        [1, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
    ]


def test_confusion_without_graded_pairs_is_all_zeros() -> None:
    assert confusion([0, 3], [None, None]) == [[0] * 4 for _ in range(4)]


def test_confusion_requires_equal_lengths() -> None:
    with pytest.raises(ValueError):
        confusion([0, 1], [0])


def test_reliability_bins_and_ece_by_hand() -> None:
    confidence = np.array([0.05, 0.15, 0.12, 0.5, 0.95, 1.0])
    correct = np.array([True, False, True, True, True, False])
    got = reliability(confidence, correct)
    # Ten bins of width .1; a value on an edge goes to the upper bin, 1.0 to the last one.
    # bin 0: .05 (right)            -> conf .05,  acc 1,  |gap| .95
    # bin 1: .15 (wrong), .12 (right) -> conf .135, acc .5, |gap| .365
    # bin 5: .5 (right)             -> conf .5,   acc 1,  |gap| .5
    # bin 9: .95 (right), 1.0 (wrong) -> conf .975, acc .5, |gap| .475
    assert [(b["bin"], b["count"]) for b in got["bins"]] == [(0, 1), (1, 2), (5, 1), (9, 2)]
    assert [b["confidence"] for b in got["bins"]] == pytest.approx([0.05, 0.135, 0.5, 0.975])
    assert [b["accuracy"] for b in got["bins"]] == pytest.approx([1.0, 0.5, 1.0, 0.5])
    # ECE = (1 * .95 + 2 * .365 + 1 * .5 + 2 * .475) / 6 = 3.13 / 6
    assert got["ece"] == pytest.approx(3.13 / 6)


def test_reliability_with_two_bins() -> None:
    # bins=2: [0, .5) and [.5, 1]; .2 and .4 (both right) -> conf .3 acc 1; .6 (wrong) -> .6, 0
    # ECE = (2 * .7 + 1 * .6) / 3 = 2/3
    got = reliability(np.array([0.2, 0.4, 0.6]), np.array([True, True, False]), bins=2)
    assert [(b["bin"], b["count"]) for b in got["bins"]] == [(0, 2), (1, 1)]
    assert got["ece"] == pytest.approx(2 / 3)


def test_wilson_interval_widens_on_few_trials() -> None:
    # 5 of 100: Wilson's score interval by hand, z = 1.96 -> [2.15%, 11.2%]
    low, high = wilson_interval(5, 100)  # type: ignore[misc]
    assert (low, high) == (pytest.approx(0.02154, abs=1e-4), pytest.approx(0.11175, abs=1e-4))
    narrow = wilson_interval(50, 1000)
    assert narrow is not None and narrow[1] - narrow[0] < high - low
    assert wilson_interval(0, 20) == (0.0, pytest.approx(0.1611, abs=1e-3))
    assert wilson_interval(0, 0) is None
