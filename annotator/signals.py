"""Channel signals of a (query, product) pair: what the retrieval channels see, for tier 1's combiner.

The miners rank with BM25 over titles, a dense bi-encoder and the catalog's field matching;
the cross-encoder reads the pair's text but not how the catalog's statistics weigh its words.
These signals put that beside its answer (:mod:`annotator.combiner`). They are computed from
the pair's text alone, the same way for a mined candidate, a human-labelled pair and a random
product, so a combiner fitted on labelled pairs applies unchanged to candidates.

``lexical`` (the tokenizer of the lexical channels, :func:`core.tokenize.tokenize`, and the
catalog's title statistics):

- ``bm25``: Okapi BM25 (k1 1.5, b 0.75) of the query against the product's title, with the
  catalog's document frequencies, and ``bm25_share``: the same over the score a title that
  holds every query word once would reach (0–1, comparable across queries);
- ``title_cover`` and ``fields_cover``: the share of query words found in the title, and in
  the title, brand, product type and attributes together; ``fields_cover_idf`` weighs each
  word by its IDF (missing "dewalt" costs more than missing "tool");
- ``numbers_cover``: the share of the query's tokens with a digit ("20v", "3/4") found in the
  product's fields (1 when the query has none), and ``has_numbers``;
- ``query_words``: the number of query words.

``dense``: ``cosine``, the cosine of the query and title embeddings of a sentence-transformers
model (default the packaged all-MiniLM-L6-v2, the dense channel's default model).

Example:
    >>> stats = CatalogStats.from_titles(["DEWALT 20V drill", "claw hammer", "garden hose"])
    >>> names = lexical_names()
    >>> row = lexical_signals(stats, "dewalt drill", {"title": "DEWALT 20V Drill"})
    >>> dict(zip(names, row))["title_cover"], dict(zip(names, row))["numbers_cover"]
    (1.0, 1.0)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core.tokenize import tokenize

__all__ = [
    "CatalogStats",
    "Signal",
    "SignalComputer",
    "lexical_names",
    "lexical_signals",
]

Signal = Literal["lexical", "dense"]

_K1, _B = 1.5, 0.75
_LEXICAL = (
    "bm25",
    "bm25_share",
    "title_cover",
    "fields_cover",
    "fields_cover_idf",
    "numbers_cover",
    "has_numbers",
    "query_words",
)


def lexical_names() -> tuple[str, ...]:
    """The names of the lexical signals, in the order :func:`lexical_signals` returns them."""
    return _LEXICAL


@dataclass(frozen=True)
class CatalogStats:
    """Document frequencies of title tokens over the catalog: what BM25 and IDF need."""

    documents: int
    average_length: float
    df: Mapping[str, int]

    @classmethod
    def from_titles(cls, titles: Iterable[str]) -> CatalogStats:
        df: Counter[str] = Counter()
        documents = total = 0
        for title in titles:
            tokens = tokenize(title)
            documents += 1
            total += len(tokens)
            df.update(set(tokens))
        return cls(documents, total / max(1, documents), dict(df))

    def idf(self, token: str) -> float:
        n = self.df.get(token, 0)
        return math.log(1.0 + (self.documents - n + 0.5) / (n + 0.5))

    def to_json(self) -> dict[str, Any]:
        return {"documents": self.documents, "average_length": self.average_length, "df": self.df}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CatalogStats:
        return cls(int(data["documents"]), float(data["average_length"]), dict(data["df"]))


def _field_tokens(product: Mapping[str, Any]) -> set[str]:
    parts = [product.get("title"), product.get("brand"), product.get("product_type")]
    for key, value in dict(product.get("attributes") or {}).items():
        parts.extend((str(key), str(value)))
    return {t for part in parts if part for t in tokenize(str(part))}


def lexical_signals(stats: CatalogStats, query: str, product: Mapping[str, Any]) -> list[float]:
    """The lexical signals of one pair (see the module docstring), in :func:`lexical_names`
    order."""
    words = tokenize(query)
    unique = set(words)
    title = tokenize(str(product.get("title") or ""))
    tf = Counter(title)
    norm = _K1 * (1 - _B + _B * len(title) / max(stats.average_length, 1e-9))
    bm25 = sum(stats.idf(w) * tf[w] * (_K1 + 1) / (tf[w] + norm) for w in unique if tf.get(w))
    ideal = sum(stats.idf(w) * (_K1 + 1) / (1 + _K1) for w in unique)
    fields = _field_tokens(product)
    numbers = [w for w in words if any(c.isdigit() for c in w)]
    idf_total = sum(stats.idf(w) for w in words)
    n = max(1, len(words))
    return [
        bm25,
        bm25 / ideal if ideal else 0.0,
        sum(w in tf for w in words) / n,
        sum(w in fields for w in words) / n,
        sum(stats.idf(w) for w in words if w in fields) / idf_total if idf_total else 0.0,
        sum(w in fields for w in numbers) / len(numbers) if numbers else 1.0,
        float(bool(numbers)),
        float(len(words)),
    ]


class SignalComputer:
    """Computes the configured signals for many pairs at once.

    Args:
        signals: which groups, in order: ``lexical``, ``dense``.
        stats: the catalog's title statistics (needed for ``lexical``).
        dense_model: the sentence-transformers model of ``dense`` (unset: the packaged MiniLM);
            loaded on first use.
    """

    def __init__(
        self,
        signals: Sequence[Signal],
        stats: CatalogStats | None,
        dense_model: str | None = None,
    ) -> None:
        if "lexical" in signals and stats is None:
            raise ValueError("lexical signals need the catalog's title statistics")
        self.signals = tuple(signals)
        self.stats = stats
        self.dense_model = dense_model
        self._encoder: Any = None

    @property
    def names(self) -> list[str]:
        out: list[str] = []
        for signal in self.signals:
            out.extend(_LEXICAL if signal == "lexical" else ("cosine",))
        return out

    def _cosines(self, queries: Sequence[str], titles: Sequence[str]) -> np.ndarray:
        if self._encoder is None:
            from core.encoder import Encoder

            self._encoder = Encoder(self.dense_model, precision="auto")
        unique_q = sorted(set(queries))
        unique_t = sorted(set(titles))
        qv = dict(zip(unique_q, self._encoder.encode(unique_q), strict=True))
        tv = dict(zip(unique_t, self._encoder.encode(unique_t), strict=True))
        return np.array([float(qv[q] @ tv[t]) for q, t in zip(queries, titles, strict=True)])

    def compute(self, queries: Sequence[str], products: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """One row of signals per pair, columns in :attr:`names` order."""
        columns: list[np.ndarray] = []
        for signal in self.signals:
            if signal == "lexical":
                assert self.stats is not None
                rows = [
                    lexical_signals(self.stats, q, p)
                    for q, p in zip(queries, products, strict=True)
                ]
                columns.append(np.asarray(rows, dtype=np.float64).reshape(len(queries), -1))
            else:
                titles = [str(p.get("title") or "") for p in products]
                columns.append(self._cosines(queries, titles)[:, None])
        if not columns:
            return np.zeros((len(queries), 0))
        return np.hstack(columns)
