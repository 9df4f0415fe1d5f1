"""Batches: no text twice where the loss takes in-batch negatives, widths kept apart, seeded."""

from __future__ import annotations

import random

from retriever.batching import batches_by_width, epoch_batches, plain_batches, unique_batches


def _texts(batch: list[tuple[object, ...]]) -> list[object]:
    return [t for row in batch for t in row if isinstance(t, str)]


def test_unique_batches_never_repeat_a_text_and_keep_every_row() -> None:
    rows = [("q1", f"p{i}", "n1") for i in range(5)] + [("q2", "p9", "n2"), ("q3", "p8", "n3")]
    batches = unique_batches(rows, 3, random.Random(0))
    assert sorted(r for b in batches for r in b) == sorted(rows)
    for batch in batches:
        assert len(_texts(batch)) == len(set(_texts(batch))), batch
    # q1 appears in five rows: they need five batches
    assert len(batches) == 5


def test_a_product_positive_for_two_queries_is_never_in_one_batch_twice() -> None:
    rows = [("q1", "drill"), ("q2", "drill"), ("q3", "hose")]
    for seed in range(5):
        for batch in unique_batches(rows, 3, random.Random(seed)):
            assert [t for t in _texts(batch) if t == "drill"] in ([], ["drill"])


def test_pairs_and_triplets_are_batched_apart_and_shuffled_together() -> None:
    pairs: list[tuple[str, ...]] = [(f"q{i}", f"p{i}") for i in range(6)]
    triplets: list[tuple[str, ...]] = [(f"a{i}", f"b{i}", f"c{i}") for i in range(6)]
    batches = batches_by_width(pairs + triplets, 2, random.Random(0), unique_batches)
    assert sorted(r for b in batches for r in b) == sorted(pairs + triplets)
    assert all(len({len(row) for row in batch}) == 1 for batch in batches)
    widths = [len(batch[0]) for batch in batches]
    assert widths != sorted(widths) and widths != sorted(widths, reverse=True)  # interleaved
    # one width: exactly the batcher's own batches
    assert batches_by_width(pairs, 2, random.Random(1), unique_batches) == unique_batches(
        pairs, 2, random.Random(1)
    )


def test_plain_batches_cut_a_shuffled_order() -> None:
    rows = [(f"q{i}", "same") for i in range(5)]
    batches = plain_batches(rows, 2, random.Random(0))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert sorted(r for b in batches for r in b) == rows


def test_each_loss_gets_its_batcher() -> None:
    # one query, three products: MNR needs three batches, pointwise BCE takes them together
    rows = [("q1", "p1", 1.0), ("q1", "p2", 0.0), ("q1", "p3", 0.0)]
    assert len(epoch_batches(rows, 3, random.Random(0), "bce")) == 1
    assert len(epoch_batches(rows, 3, random.Random(0), "triplet")) == 1
    assert len(epoch_batches(rows, 3, random.Random(0), "mnr")) == 3
    assert len(epoch_batches(rows, 3, random.Random(0), "masked_mnr")) == 3
    # seeded: the same generator state gives the same batches
    assert epoch_batches(rows, 2, random.Random(4), "bce") == epoch_batches(
        rows, 2, random.Random(4), "bce"
    )
