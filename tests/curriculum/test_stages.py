"""Stages and the graded list from hand-placed candidates."""

from __future__ import annotations

from collections import Counter

import pytest

from curriculum.levels import GradedCandidate, Leveled, assign_levels
from curriculum.stages import GRADED_LIST, build_stages, graded_list
from tests.curriculum.conftest import TABLE


def _placed() -> tuple[list[GradedCandidate], list[Leveled]]:
    candidates = [
        GradedCandidate(int(q[1:]), int(ext[1:]), sets, grade, status or "unlabelled")
        for ext, _, q, sets, grade, status, _ in TABLE
    ]
    return candidates, assign_levels(candidates)[0]


def test_stage_one_is_pointwise_from_levels_one_and_five() -> None:
    examples, counts = build_stages(_placed()[1])
    stage1 = sorted(
        (e.query_id, e.positive_id or 0, e.negative_id or 0, e.label, e.level)
        for e in examples
        if e.stage == 1
    )
    assert stage1 == [
        (1, 0, 6, 0.0, 5),
        (1, 1, 0, 1.0, 1),
        (2, 0, 12, 0.0, 5),
        (2, 11, 0, 1.0, 1),
    ]
    assert counts.per_stage[1] == 4


def test_stage_two_pairs_hard_positives_with_hard_negatives() -> None:
    examples, counts = build_stages(_placed()[1])
    stage2 = [e for e in examples if e.stage == 2]
    # query 1: positives {2, 4 (promoted)}, negatives {3, 8}: each used exactly once
    assert len(stage2) == 2
    assert {e.positive_id for e in stage2} == {2, 4}
    assert {e.negative_id for e in stage2} == {3, 8}
    assert all(e.query_id == 1 and e.level == 3 and e.label is None for e in stage2)
    assert counts.unpaired[2] == 0  # query 2 has no level-2 or level-3 items


def test_stage_three_pairs_token_negatives_with_any_positive() -> None:
    examples, _ = build_stages(_placed()[1])
    stage3 = sorted((e.query_id, e.positive_id, e.negative_id) for e in examples if e.stage == 3)
    # query 1: positives {1, 2, 4}, one token-similar negative 5; query 2: 11 with 13
    assert stage3 == [(1, 1, 5), (1, 2, 5), (1, 4, 5), (2, 11, 13)]


def test_negatives_per_positive_and_unpaired_items() -> None:
    def item(pid: int, level: int) -> Leveled:
        return Leveled(7, pid, level, 3 if level < 3 else 0, level < 3, False, "x")

    placed = [item(1, 2), item(2, 2), *(item(10 + i, 3) for i in range(5)), item(30, 4)]
    examples, counts = build_stages(placed, negatives_per_positive=2, seed=3)
    stage2 = [e for e in examples if e.stage == 2]
    assert len(stage2) == 4  # 2 positives x at most 2 negatives
    assert Counter(e.positive_id for e in stage2) == {1: 2, 2: 2}
    assert len({e.negative_id for e in stage2}) == 4
    assert counts.unpaired[2] == 1  # one of the five hard negatives is left over
    stage3 = [e for e in examples if e.stage == 3]
    assert len(stage3) == 2  # both positives get the one token-similar negative
    # seeded: the same seed builds the same rows, another seed may pick other negatives
    again, _ = build_stages(placed, negatives_per_positive=2, seed=3)
    assert again == examples
    with pytest.raises(ValueError, match="negatives_per_positive"):
        build_stages(placed, negatives_per_positive=0)


def test_a_query_without_positives_gives_no_triplets() -> None:
    placed = [Leveled(1, 5, 3, 0, False, False, "hard_negative")]
    examples, counts = build_stages(placed)
    assert examples == []
    assert counts.unpaired[2] == 1


def test_graded_list_keeps_every_graded_candidate() -> None:
    candidates, placed = _placed()
    rows = graded_list(candidates, placed)
    assert len(rows) == 11  # 13 candidates, one failed, one never labelled
    assert all(r.stage == GRADED_LIST for r in rows)
    demoted = next(r for r in rows if r.positive_id == 7)
    assert (demoted.label, demoted.level) == (0.0, 0)
    assert Counter(r.label for r in rows) == {3.0: 3, 2.0: 1, 1.0: 2, 0.0: 5}
