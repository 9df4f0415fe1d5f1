"""Batches for one epoch of a stage: seeded, of one row width each, without repeats where the
loss takes in-batch negatives.

A loss with in-batch negatives (MNR and its masked variant) treats every other product in the
batch as a negative of each query, so a batch must hold no text twice: two rows of one query,
or one product positive for two queries, would push a query away from its own positive
(sentence-transformers' ``BatchSamplers.NO_DUPLICATES`` does the same). Rows of different
widths — pairs and triplets, in ``human+mixed`` or ``human_hardneg`` — cannot share a tensor,
so they are batched apart and the batches shuffled together.

Example:
    >>> rows = [("q1", "p1"), ("q1", "p2"), ("q2", "p3")]
    >>> [len(b) for b in unique_batches(rows, 3, random.Random(0))]
    [2, 1]
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from retriever.losses.base import Row
from retriever.losses.registry import IN_BATCH_NEGATIVES

__all__ = ["Batcher", "batches_by_width", "epoch_batches", "plain_batches", "unique_batches"]

Batcher = Callable[[Sequence[Row], int, random.Random], list[list[Row]]]


def unique_batches(rows: Sequence[Row], size: int, rng: random.Random) -> list[list[Row]]:
    """Shuffled batches of at most ``size`` rows in which no text appears twice.

    Rows are taken in a shuffled order; a row that shares a text with the batch being filled
    waits for a later one.

    Args:
        rows: the stage's rows.
        size: rows per batch at most.
        rng: the seeded generator that shuffles.

    Returns:
        The batches; every row lands in exactly one.
    """
    pending = list(rows)
    rng.shuffle(pending)
    batches: list[list[Row]] = []
    while pending:
        batch: list[Row] = []
        seen: set[str] = set()
        deferred = []
        for row in pending:
            texts = {t for t in row if isinstance(t, str)}
            if len(batch) < size and not texts & seen:
                batch.append(row)
                seen |= texts
            else:
                deferred.append(row)
        batches.append(batch)
        pending = deferred
    return batches


def plain_batches(rows: Sequence[Row], size: int, rng: random.Random) -> list[list[Row]]:
    """Shuffled consecutive batches of ``size`` rows (the last may be shorter).

    Args:
        rows: the stage's rows.
        size: rows per batch.
        rng: the seeded generator that shuffles.

    Returns:
        The batches.
    """
    order = list(rows)
    rng.shuffle(order)
    return [order[i : i + size] for i in range(0, len(order), size)]


def batches_by_width(
    rows: Sequence[Row], size: int, rng: random.Random, batcher: Batcher
) -> list[list[Row]]:
    """Batches of rows of one width each (pairs apart from triplets), shuffled together.

    Args:
        rows: the stage's rows, of one width or several.
        size: rows per batch at most.
        rng: the seeded generator that shuffles.
        batcher: cuts the rows of one width into batches.

    Returns:
        The batches; with one width exactly ``batcher(rows, size, rng)``.
    """
    widths: dict[int, list[Row]] = {}
    for row in rows:
        widths.setdefault(len(row), []).append(row)
    if len(widths) == 1:
        return batcher(rows, size, rng)
    batches = [b for width in sorted(widths) for b in batcher(widths[width], size, rng)]
    rng.shuffle(batches)
    return batches


def epoch_batches(rows: Sequence[Row], size: int, rng: random.Random, loss: str) -> list[list[Row]]:
    """One epoch's batches for a stage trained with ``loss`` (see the module docstring).

    Args:
        rows: the stage's rows.
        size: rows per batch at most.
        rng: the seeded generator, carried from epoch to epoch.
        loss: the stage's loss name: in-batch negative losses get batches without repeats.

    Returns:
        The batches.
    """
    batcher = unique_batches if loss in IN_BATCH_NEGATIVES else plain_batches
    return batches_by_width(rows, size, rng, batcher)
