"""A query's candidate rows: the ranks JSON written without dicts reads as the dicts did."""

from __future__ import annotations

import itertools

import numpy as np

from miners.candidates import RanksJson, classify_query
from miners.disagreement import SET_COMBOS, Cutoffs, classify, rank_matrix
from store.bulk import json_text


def test_ranks_json_is_byte_for_byte_the_json_of_the_dict() -> None:
    channels = ["bm25", "dense", "catalog"]
    writer = RanksJson(channels)
    for ranks in itertools.product([0, 1, 37, 500], repeat=3):
        if not any(ranks):
            continue
        for code, combo in SET_COMBOS.items():
            as_dict = {c: r for c, r in zip(channels, ranks, strict=True) if r}
            as_dict["sets"] = list(combo)
            assert writer.text(list(ranks), code) == json_text(as_dict)


def test_rows_agree_with_the_rule_book_on_random_lists() -> None:
    """Every member's set and ranks are those :func:`classify` gives for the same lists."""
    rng = np.random.default_rng(1)
    channels = ["bm25", "dense", "catalog"]
    cutoffs = Cutoffs(easy_positive_k=8, hard_positive_k=3, hard_negative_k=4)
    for _ in range(30):
        ranked = {
            c: rng.choice(25, size=int(rng.integers(0, 12)), replace=False).astype(np.int64)
            for c in channels
        }
        rows = classify_query(
            1, rank_matrix(ranked, channels), cutoffs, [], [], RanksJson(channels)
        ).rows
        table = {c: {int(p): r for r, p in enumerate(ids, 1)} for c, ids in ranked.items()}
        expected = classify(table, cutoffs, channels)
        assert [pid for pid, _, _ in rows] == sorted(expected)
        for pid, name, text in rows:
            assert name == expected[pid].candidate_set
            assert text == json_text({**expected[pid].ranks, "sets": list(expected[pid].sets)})
