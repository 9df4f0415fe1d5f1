"""The channel contract: every retrieval channel indexes products and searches queries.

A channel is built from its config section, ``index``-ed over a :class:`ProductDoc` list, then
``search``-ed with query texts. Results come back as a :class:`SearchResult`: two ``(n_queries,
k)`` arrays of product ids (store primary keys, ``-1`` where fewer than k were found) and
scores, best first. ``save``/``load`` persist an index to a folder of plain files so a large
catalog is indexed once.

Example:
    >>> channel = build_channel("bm25", MiningConfig())
    >>> channel.index(products)
    >>> result = channel.search(["cordless drill"], k=10)
    >>> result.ids[0][:3], result.scores[0][:3]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Channel", "ProductDoc", "SearchResult", "product_text"]


@dataclass(frozen=True, slots=True)
class ProductDoc:
    """What a channel sees of a product."""

    id: int
    title: str
    external_id: str = ""
    description: str | None = None
    brand: str | None = None
    product_type: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""


def product_text(doc: ProductDoc, *, description: bool = True) -> str:
    """Title (and description) as one string: the text BM25 and the dense model read."""
    if description and doc.description:
        return f"{doc.title}. {doc.description}"
    return doc.title


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
