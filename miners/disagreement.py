"""Disagreement sets and overlap statistics: pure functions over rank tables.

A *rank table* for one query maps each channel to ``{product_id: rank}`` (1-based) for the
products that channel retrieved. With the cut-offs of :class:`Cutoffs` (defaults from the
paper):

- ``easy_positive``: every channel retrieved it within ``easy_positive_k`` (500): consensus.
- ``hard_positive``: a lexical channel (``bm25`` or ``catalog``) ranks it within
  ``hard_positive_k`` (50) and the dense channel did not retrieve it at all: what only the
  lexical systems find.
- ``hard_negative``: exactly one channel ranks it within ``hard_negative_k`` (100): one
  channel was fooled (or found something the others missed; the cascade decides).

A product that qualifies for several sets keeps the first in that order as its
``candidate_set`` and lists all of them in ``sets``. Token-similar and random negatives are
drawn elsewhere (:mod:`miners.negatives`) from products no channel retrieved.

Example:
    >>> table = {"bm25": {1: 1, 2: 2}, "dense": {1: 3}, "catalog": {1: 1, 3: 1}}
    >>> classify(table, Cutoffs())[1].candidate_set
    'easy_positive'
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from store.schema import CANDIDATE_SETS

__all__ = [
    "LEXICAL_CHANNELS",
    "SETS",
    "SET_COMBOS",
    "Assignment",
    "Cutoffs",
    "OverlapCounter",
    "OverlapStats",
    "classify",
    "classify_ranked",
    "overlap_stats",
    "rank_matrix",
    "set_codes",
]

SETS = CANDIDATE_SETS
LEXICAL_CHANNELS = ("bm25", "catalog")
DENSE_CHANNEL = "dense"

RankTable = Mapping[str, Mapping[int, int]]


@dataclass(frozen=True)
class Cutoffs:
    easy_positive_k: int = 500
    hard_positive_k: int = 50
    hard_negative_k: int = 100


@dataclass(frozen=True)
class Assignment:
    candidate_set: str
    sets: tuple[str, ...]
    ranks: dict[str, int]


def rank_matrix(
    ranked: Mapping[str, npt.NDArray[np.int64]],
    channels: Sequence[str],
    ranks_given: Mapping[str, npt.NDArray[np.int64]] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every product any channel retrieved (sorted ids) and its ``(n, len(channels))`` ranks
    (0 = not retrieved by that channel; by default rank = position in the list + 1)."""
    names = list(channels)
    arrays = [np.asarray(ranked.get(c, np.zeros(0, np.int64)), dtype=np.int64) for c in names]
    products = np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, np.int64)
    ranks = np.zeros((len(products), len(names)), dtype=np.int64)
    for col, ids in enumerate(arrays):
        given = None if ranks_given is None else ranks_given.get(names[col])
        ranks[np.searchsorted(products, ids), col] = (
            np.arange(1, len(ids) + 1) if given is None else given
        )
    return products, ranks


def set_codes(
    ranks: npt.NDArray[np.int64], cutoffs: Cutoffs, channels: Sequence[str]
) -> npt.NDArray[np.int64]:
    """Per row of a rank matrix, the sets it qualifies for as bits (1 easy positive, 2 hard
    positive, 4 hard negative; 0 = none): :data:`SET_COMBOS` names them."""
    names = list(channels)
    effective = np.where(ranks == 0, np.iinfo(np.int64).max, ranks)
    several = len(names) >= 2
    rows = len(ranks)
    easy = np.full(rows, several) & (effective <= cutoffs.easy_positive_k).all(axis=1)
    lexical = [k for k, c in enumerate(names) if c in LEXICAL_CHANNELS]
    if DENSE_CHANNEL in names and lexical:
        unseen = ranks[:, names.index(DENSE_CHANNEL)] == 0
        hard_pos = unseen & (effective[:, lexical] <= cutoffs.hard_positive_k).any(axis=1)
    else:
        hard_pos = np.zeros(rows, dtype=bool)
    hard_neg = np.full(rows, several) & ((effective <= cutoffs.hard_negative_k).sum(axis=1) == 1)
    return easy * 1 + hard_pos * 2 + hard_neg * 4


SET_COMBOS: dict[int, tuple[str, ...]] = {
    code: tuple(name for bit, name in enumerate(SETS[:3]) if code >> bit & 1)
    for code in range(1, 8)
}
"""The sets of each :func:`set_codes` code, in precedence order (the first is the
``candidate_set``)."""


def classify_ranked(
    ranked: Mapping[str, npt.NDArray[np.int64]],
    cutoffs: Cutoffs,
    channels: Sequence[str],
    ranks_given: Mapping[str, npt.NDArray[np.int64]] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[tuple[str, ...]]]:
    """The disagreement rules on ranked id arrays (vectorised; what mining runs).

    Args:
        ranked: per channel, the retrieved product ids best first (rank = position + 1).
        cutoffs: the rank cut-offs.
        channels: the channels that ran, in order.
        ranks_given: per channel, explicit ranks for ``ranked`` (default: positions).

    Returns:
        ``(products, ranks, sets)`` for the products in at least one set: their ids, an
        ``(n, len(channels))`` rank matrix (0 = not retrieved by that channel) and each
        product's sets in precedence order (the first is its ``candidate_set``).
    """
    products, ranks = rank_matrix(ranked, channels, ranks_given)
    codes = set_codes(ranks, cutoffs, channels)
    keep = codes > 0
    return products[keep], ranks[keep], [SET_COMBOS[int(c)] for c in codes[keep]]


def classify(
    table: RankTable, cutoffs: Cutoffs, channels: Sequence[str] | None = None
) -> dict[int, Assignment]:
    """Sort one query's retrieved products into disagreement sets.

    Args:
        table: ``{channel: {product_id: rank}}`` for the query (1-based, contiguous ranks).
        cutoffs: the rank cut-offs.
        channels: the channels that ran (default: the table's keys). Consensus needs all of
            them and at least two; hard positives need the dense channel among them.

    Returns:
        ``{product_id: Assignment}`` for the products in at least one set.
    """
    names = list(channels if channels is not None else table)
    ranked = {c: np.array(list(table.get(c, {})), dtype=np.int64) for c in names}
    given = {c: np.array(list(table.get(c, {}).values()), dtype=np.int64) for c in names}
    products, ranks, sets = classify_ranked(ranked, cutoffs, names, given)
    return {
        int(pid): Assignment(
            found[0], found, {c: int(r) for c, r in zip(names, row, strict=True) if r}
        )
        for pid, row, found in zip(products, ranks, sets, strict=True)
    }


@dataclass
class OverlapStats:
    """Agreement between channels over many queries, at several depths K.

    ``jaccard[K]["bm25|dense"]``: mean over queries of |A∩B| / |A∪B| for the two channels'
    top-K lists (queries where both lists are empty are skipped). ``unique_share[K][c]``: of
    all results channel ``c`` returned in its top-K, the share no other channel returned in
    its top-K (pooled over queries).
    """

    jaccard: dict[int, dict[str, float]] = field(default_factory=dict)
    unique_share: dict[int, dict[str, float]] = field(default_factory=dict)
    queries: int = 0


class OverlapCounter:
    """Accumulates :class:`OverlapStats` one query at a time (constant memory)."""

    def __init__(self, channels: Sequence[str], ks: Sequence[int]) -> None:
        self.channels = list(channels)
        self.ks = list(ks)
        self.pairs = [f"{a}|{b}" for a, b in itertools.combinations(self.channels, 2)]
        self._sums = {k: dict.fromkeys(self.pairs, 0.0) for k in self.ks}
        self._counted = {k: dict.fromkeys(self.pairs, 0) for k in self.ks}
        self._unique = {k: dict.fromkeys(self.channels, 0) for k in self.ks}
        self._total = {k: dict.fromkeys(self.channels, 0) for k in self.ks}
        self.queries = 0

    def add(self, table: RankTable) -> None:
        """Add one query given as ``{channel: {product_id: rank}}``."""
        self.queries += 1
        for k in self.ks:
            self._add_tops(
                k, {c: {p for p, r in table.get(c, {}).items() if r <= k} for c in self.channels}
            )

    def add_matrix(self, ranks: npt.NDArray[np.int64]) -> None:
        """Add one query given as its :func:`rank_matrix` (columns in this counter's channel
        order): the same figures as :meth:`add_ranked`, without building sets."""
        self.queries += 1
        names = self.channels
        for k in self.ks:
            top = (ranks > 0) & (ranks <= k)
            for a, b in itertools.combinations(range(len(names)), 2):
                union = int(np.count_nonzero(top[:, a] | top[:, b]))
                if union:
                    pair = f"{names[a]}|{names[b]}"
                    both = int(np.count_nonzero(top[:, a] & top[:, b]))
                    self._sums[k][pair] += both / union
                    self._counted[k][pair] += 1
            alone = top.sum(axis=1) == 1
            for c, name in enumerate(names):
                self._unique[k][name] += int(np.count_nonzero(top[:, c] & alone))
                self._total[k][name] += int(np.count_nonzero(top[:, c]))

    def add_ranked(self, ranked: Mapping[str, Sequence[int]]) -> None:
        """Add one query given as, per channel, its retrieved ids best first."""
        self.queries += 1
        for k in self.ks:
            self._add_tops(k, {c: set(list(ranked.get(c, []))[:k]) for c in self.channels})

    def _add_tops(self, k: int, tops: dict[str, set[int]]) -> None:
        for a, b in itertools.combinations(self.channels, 2):
            union = tops[a] | tops[b]
            if union:
                self._sums[k][f"{a}|{b}"] += len(tops[a] & tops[b]) / len(union)
                self._counted[k][f"{a}|{b}"] += 1
        for c in self.channels:
            others: set[int] = set().union(*(tops[o] for o in self.channels if o != c))
            self._unique[k][c] += len(tops[c] - others)
            self._total[k][c] += len(tops[c])

    def stats(self) -> OverlapStats:
        stats = OverlapStats(queries=self.queries)
        for k in self.ks:
            sums, counted = self._sums[k], self._counted[k]
            stats.jaccard[k] = {p: sums[p] / counted[p] if counted[p] else 0.0 for p in self.pairs}
            stats.unique_share[k] = {
                c: self._unique[k][c] / self._total[k][c] if self._total[k][c] else 0.0
                for c in self.channels
            }
        return stats


def overlap_stats(
    tables: Sequence[RankTable], channels: Sequence[str], ks: Sequence[int]
) -> OverlapStats:
    """Pairwise Jaccard@K and unique share@K of ``channels`` over the query ``tables``."""
    counter = OverlapCounter(channels, ks)
    for table in tables:
        counter.add(table)
    return counter.stats()
