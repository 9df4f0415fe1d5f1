"""Level assignment on hand-built candidates with hand-computed answers."""

from __future__ import annotations

import pytest

from curriculum.levels import GradedCandidate, Placement, assign_level, assign_levels
from tests.curriculum.conftest import TABLE


@pytest.mark.parametrize(
    ("sets", "grade", "cutoff", "expected"),
    [
        (["easy_positive"], 3, 2, Placement(1, True, False)),
        (["easy_positive"], 2, 2, Placement(1, True, False)),
        (["easy_positive"], 2, 3, Placement(None, False, False)),  # stricter cut-off: demoted
        (["hard_positive"], 2, 2, Placement(2, True, False)),
        (["hard_negative"], 1, 2, Placement(3, False, False)),
        (["hard_negative"], 1, 1, Placement(2, True, True)),  # cut-off 1: Complement is relevant
        (["token_negative"], 0, 2, Placement(4, False, False)),
        (["token_negative"], 3, 2, Placement(2, True, True)),
        (["random_negative"], 0, 2, Placement(5, False, False)),
        (["random_negative"], 2, 2, Placement(2, True, True)),
        (["hard_positive", "hard_negative"], 0, 2, Placement(3, False, False)),
        (["hard_positive", "hard_negative"], 3, 2, Placement(2, True, False)),
        (["easy_positive", "hard_positive"], 1, 2, Placement(None, False, False)),
    ],
)
def test_assign_level(sets: list[str], grade: int, cutoff: int, expected: Placement) -> None:
    assert assign_level(sets, grade, cutoff) == expected


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown disagreement set"):
        assign_level(["clicked"], 3)
    with pytest.raises(ValueError, match="grade must be 0-3"):
        assign_level(["easy_positive"], 4)
    with pytest.raises(ValueError, match="at least one"):
        assign_level([], 1)


def test_the_hand_built_table() -> None:
    candidates = [
        GradedCandidate(int(q[1:]), int(ext[1:]), sets, grade, status or "unlabelled")
        for ext, _, q, sets, grade, status, _ in TABLE
    ]
    placed, counts = assign_levels(candidates, cutoff=2)
    got = {f"p{p.product_id}": p.level for p in placed}
    want = {ext: level for ext, *_, level in TABLE if level is not None}
    assert got == want
    assert counts.per_level == {1: 2, 2: 2, 3: 2, 4: 2, 5: 2}
    assert dict(counts.promoted) == {"hard_negative": 1}
    assert dict(counts.demoted) == {"easy_positive": 1}
    assert (counts.failed, counts.unlabelled) == (1, 1)
    promoted = [p for p in placed if p.promoted]
    assert [(p.product_id, p.relevant, p.level) for p in promoted] == [(4, True, 2)]
    # a promoted negative is never a negative
    assert all(p.relevant for p in placed if p.level in (1, 2))
    assert not any(p.relevant for p in placed if p.level in (3, 4, 5))
