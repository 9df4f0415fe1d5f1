"""Disagreement rules and overlap statistics on hand-built rank tables, answers by hand."""

from __future__ import annotations

import numpy as np
import pytest

from miners.disagreement import (
    SET_COMBOS,
    Cutoffs,
    OverlapCounter,
    classify,
    overlap_stats,
    rank_matrix,
    set_codes,
)

CUT = Cutoffs(easy_positive_k=5, hard_positive_k=2, hard_negative_k=3)
ALL = ["bm25", "dense", "catalog"]

# product -> what each channel ranked it (absent: not retrieved)
TABLE = {
    "bm25": {1: 1, 2: 2, 3: 3, 4: 4, 6: 6},
    "dense": {1: 2, 5: 1, 4: 5, 6: 1},
    "catalog": {1: 3, 2: 1, 4: 2, 6: 7, 7: 3},
}


def test_hand_computed_sets() -> None:
    got = {pid: (a.candidate_set, a.sets) for pid, a in classify(TABLE, CUT, ALL).items()}
    assert got == {
        # 1: ranks 1/2/3, all within 5 -> consensus; within 3 in all three -> not "exactly one".
        1: ("easy_positive", ("easy_positive",)),
        # 2: bm25 2 and catalog 1 (lexical top-2), dense never saw it -> hard positive;
        #    two channels within 3 -> not a hard negative.
        2: ("hard_positive", ("hard_positive",)),
        # 3: bm25 rank 3 only: lexical but rank 3 > hard_positive_k 2; one channel in top-3.
        3: ("hard_negative", ("hard_negative",)),
        # 4: 4/5/2: all within 5 -> consensus; only catalog within 3 -> also a hard negative.
        4: ("easy_positive", ("easy_positive", "hard_negative")),
        # 5: dense rank 1 only -> exactly one channel fooled.
        5: ("hard_negative", ("hard_negative",)),
        # 6: bm25 6 and catalog 7 are past 5 -> no consensus; dense 1 alone in top-3.
        6: ("hard_negative", ("hard_negative",)),
        # 7: catalog 3, unseen by dense but rank 3 > 2; alone in top-3 -> hard negative.
        7: ("hard_negative", ("hard_negative",)),
    }
    assert classify(TABLE, CUT, ALL)[4].ranks == {"bm25": 4, "dense": 5, "catalog": 2}


def test_lexical_only_top_hit_is_both_hard_positive_and_hard_negative() -> None:
    table = {"bm25": {9: 1}, "dense": {8: 1}, "catalog": {8: 9}}
    got = classify(table, CUT, ALL)
    assert got[9].candidate_set == "hard_positive"
    assert got[9].sets == ("hard_positive", "hard_negative")


def test_without_dense_there_are_no_hard_positives() -> None:
    got = classify({"bm25": {1: 1}, "catalog": {2: 1}}, CUT, ["bm25", "catalog"])
    assert {a.candidate_set for a in got.values()} == {"hard_negative"}


def test_a_single_channel_makes_no_sets() -> None:
    assert classify({"bm25": {1: 1, 2: 2}}, CUT, ["bm25"]) == {}


def test_overlap_hand_computed() -> None:
    tables = [
        {"a": {1: 1, 2: 2, 3: 3}, "b": {2: 1, 3: 2, 4: 3}},  # @3: |{2,3}| / |{1,2,3,4}| = 0.5
        {"a": {5: 1}, "b": {5: 1}},  # identical: 1.0
        {"a": {}, "b": {}},  # both empty: not counted
    ]
    stats = overlap_stats(tables, ["a", "b"], [1, 3])
    assert stats.jaccard[3] == {"a|b": pytest.approx(0.75)}
    # @1: {1} vs {2} -> 0; {5} vs {5} -> 1
    assert stats.jaccard[1] == {"a|b": pytest.approx(0.5)}
    # @3 unique: a has 1 (of 4 results), b has 4 (of 4)
    assert stats.unique_share[3] == {"a": pytest.approx(0.25), "b": pytest.approx(0.25)}
    assert stats.queries == 3


def test_overlap_from_rank_matrices_equals_overlap_from_lists() -> None:
    """Mining counts overlap from each query's rank matrix; the figures are those of the lists."""
    rng = np.random.default_rng(0)
    channels = ["bm25", "dense", "catalog"]
    by_lists, by_matrix = OverlapCounter(channels, [3, 10]), OverlapCounter(channels, [3, 10])
    for _ in range(50):
        ranked = {
            c: rng.choice(30, size=int(rng.integers(0, 15)), replace=False).astype(np.int64)
            for c in channels
        }
        by_lists.add_ranked({c: ids.tolist() for c, ids in ranked.items()})
        by_matrix.add_matrix(rank_matrix(ranked, channels)[1])
    assert by_matrix.stats() == by_lists.stats()


def test_set_codes_name_the_sets_classify_gives() -> None:
    channels = ["bm25", "dense", "catalog"]
    ranked = {
        "bm25": np.array([1, 2, 3, 4]),
        "dense": np.array([1, 5, 6]),
        "catalog": np.array([1, 3, 7]),
    }
    products, ranks = rank_matrix(ranked, channels)
    codes = set_codes(ranks, Cutoffs(hard_positive_k=2, hard_negative_k=2), channels)
    found = {int(p): SET_COMBOS[int(c)] for p, c in zip(products, codes, strict=True) if c}
    assert found == {
        1: ("easy_positive",),
        2: ("hard_positive", "hard_negative"),
        3: ("hard_positive", "hard_negative"),  # catalog 2, bm25 3: one channel within 2
        5: ("hard_negative",),
    }
