"""Per-class isotonic calibration on hand-sized arrays.

The cascade simulation and the route search are tested in ``test_routing.py``.

Every expected value is worked out by hand in the comments next to it.
"""

from __future__ import annotations

import numpy as np
import pytest

from annotator.calibration import Isotonic


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
