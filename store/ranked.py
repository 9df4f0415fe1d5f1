"""Ranked lists: each channel's top-K for a query of a mining run, one row per list.

A list is stored as two binary columns (``ranked_lists.product_ids``, little-endian int64,
and ``ranked_lists.scores``, little-endian float32, best first) so that mining writes one row
per (run, query, channel) instead of one per retrieval. This module is the only place that
knows the encoding:

- :func:`encode` turns one list into a row's values; :func:`list_rows` makes the rows of a
  batch of queries for :func:`store.bulk.bulk_insert`;
- :func:`read_lists` reads a run's lists back as arrays, and :func:`retrievals` flattens them
  into the (query, channel, rank, product, score) rows a report or a notebook wants.

Ranks are 1-based positions in the list. Padding (``-1`` ids from a channel that found fewer
than K products) is never stored.

Example:
    >>> ids, scores = np.array([7, 3]), np.array([2.5, 1.0])
    >>> row = encode(ids, scores)
    >>> row[0], decode(*row[1:])
    (2, (array([7, 3]), array([2.5, 1. ], dtype=float32)))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, select

from store.schema import RankedList

__all__ = [
    "RANKED_COLUMNS",
    "RankedLists",
    "decode",
    "encode",
    "list_rows",
    "read_lists",
    "retrievals",
]

RANKED_COLUMNS = ("run_id", "query_id", "channel", "length", "product_ids", "scores")
_IDS, _SCORES = np.dtype("<i8"), np.dtype("<f4")

# (query id, channel) -> (product ids, scores), best first
RankedLists = dict[tuple[int, str], tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]


def encode(ids: npt.ArrayLike, scores: npt.ArrayLike) -> tuple[int, bytes, bytes]:
    """``(length, product_ids, scores)`` column values for one list (padding already removed)."""
    ids_array = np.asarray(ids, dtype=_IDS)
    scores_array = np.asarray(scores, dtype=_SCORES)
    if ids_array.shape != scores_array.shape or ids_array.ndim != 1:
        raise ValueError(
            f"a ranked list needs as many scores as ids, got shapes {ids_array.shape} and "
            f"{scores_array.shape}"
        )
    return len(ids_array), ids_array.tobytes(), scores_array.tobytes()


def decode(
    product_ids: bytes, scores: bytes
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The arrays :func:`encode` stored (native byte order, writable copies)."""
    ids = np.frombuffer(product_ids, dtype=_IDS).astype(np.int64)
    values = np.frombuffer(scores, dtype=_SCORES).astype(np.float32)
    return ids, values


def list_rows(
    run_id: int,
    query_ids: Iterable[int],
    lists: Mapping[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.floating[Any]]]],
) -> list[tuple[Any, ...]]:
    """Rows in :data:`RANKED_COLUMNS` order for a batch of queries.

    ``lists`` maps each channel to its ``(ids, scores)`` matrices, one row per query of
    ``query_ids`` in order; ids ``< 0`` are padding and are dropped.
    """
    rows: list[tuple[Any, ...]] = []
    for i, query_id in enumerate(query_ids):
        for channel, (ids, scores) in lists.items():
            keep = ids[i] >= 0
            rows.append((run_id, int(query_id), channel, *encode(ids[i][keep], scores[i][keep])))
    return rows


def read_lists(
    conn: Connection, run_id: int, query_ids: Iterable[int] | None = None
) -> RankedLists:
    """The ranked lists of mining run ``run_id`` (of ``query_ids`` only, when given)."""
    stmt = select(
        RankedList.query_id, RankedList.channel, RankedList.product_ids, RankedList.scores
    ).where(RankedList.run_id == run_id)
    if query_ids is not None:
        stmt = stmt.where(RankedList.query_id.in_(list(query_ids)))
    return {(q, c): decode(bytes(ids), bytes(s)) for q, c, ids, s in conn.execute(stmt)}


def retrievals(lists: RankedLists) -> Iterator[tuple[int, str, int, int, float]]:
    """``(query, channel, rank, product, score)`` for every retrieval, ranks from 1.

    Example:
        >>> lists = {(1, "bm25"): (np.array([5, 6]), np.array([2.0, 1.0], dtype=np.float32))}
        >>> list(retrievals(lists))
        [(1, 'bm25', 1, 5, 2.0), (1, 'bm25', 2, 6, 1.0)]
    """
    for (query_id, channel), (ids, scores) in sorted(lists.items()):
        for rank, (pid, score) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True), 1):
            yield query_id, channel, rank, pid, score
