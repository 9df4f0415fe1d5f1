"""The channel contract: every retrieval channel indexes products and searches queries.

A channel is built from its config section, ``index``-ed over a :class:`ProductDoc` list, then
``search``-ed with query texts. Results come back as a :class:`SearchResult`: two ``(n_queries,
k)`` arrays of product ids (store primary keys, ``-1`` where fewer than k were found) and
scores, best first. ``save``/``load`` persist an index to a folder of plain files so a large
catalog is indexed once.

Example:
    >>> from miners.config import MiningConfig
    >>> from miners.registry import build_channel
    >>> from store.catalog import ProductDoc
    >>> channel = build_channel("bm25", MiningConfig())
    >>> titles = ["DEWALT cordless drill", "garden hose", "paint roller", "drill bit set"]
    >>> channel.index([ProductDoc(i, t) for i, t in enumerate(titles, start=1)])
    >>> result = channel.search(["cordless drill", "hose"], k=3)
    >>> result.ids.tolist()  # -1 pads a row with fewer than k matches
    [[1, -1, -1], [2, -1, -1]]
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from store.catalog import ProductDoc

__all__ = ["CHANNELS", "Channel", "ChannelName", "SearchResult"]

ChannelName = Literal["bm25", "dense", "catalog"]
"""The channels there are; ``mining.channels`` accepts these names (:mod:`miners.registry`
builds them)."""
CHANNELS: tuple[str, ...] = typing.get_args(ChannelName)


class SearchResult(NamedTuple):
    """Ranked ids and scores, one row per query; ``-1`` ids pad short rows (score ``-inf``)."""

    ids: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float32]

    def row(self, i: int) -> list[tuple[int, float]]:
        """Query ``i``'s (id, score) list without padding."""
        keep = self.ids[i] >= 0
        return list(zip(self.ids[i][keep].tolist(), self.scores[i][keep].tolist(), strict=True))

    @staticmethod
    def empty(n_queries: int, k: int) -> SearchResult:
        return SearchResult(
            np.full((n_queries, k), -1, dtype=np.int64),
            np.full((n_queries, k), -np.inf, dtype=np.float32),
        )


@runtime_checkable
class Channel(Protocol):
    """One retrieval channel. Implementations: ``bm25``, ``dense``, ``catalog``."""

    name: str

    def index(self, products: Sequence[ProductDoc]) -> None:
        """Build the index over ``products`` (replacing any previous one)."""
        ...

    def search(self, queries: Sequence[str], k: int) -> SearchResult:
        """Top-``k`` products per query, best first."""
        ...

    def save(self, directory: Path) -> None:
        """Write the index to ``directory`` (created if missing)."""
        ...

    def load(self, directory: Path) -> None:
        """Read an index written by :meth:`save`."""
        ...
