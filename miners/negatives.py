"""Negatives no channel retrieved: token-similar (TF-IDF) and random.

- Token-similar negatives share words with the query (high TF-IDF cosine between query and
  product text) yet no channel put them in its top-K: lexically close, probably irrelevant.
  They become the Triplet stage's negatives once the cascade confirms them.
- Random negatives are uniform draws from the catalog, excluding everything retrieved; they
  are seeded per (seed, query id), so a run is reproducible and independent of batching.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from core.hashing import seeded_int
from core.tokenize import tokenize
from store.catalog import ProductDoc, product_text

__all__ = ["TfidfNegatives", "random_negatives"]


class TfidfNegatives:
    """TF-IDF over product texts (the shared tokenizer, sublinear tf), queried in batches."""

    def __init__(self, products: Sequence[ProductDoc], batch_size: int = 256) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vectorizer = TfidfVectorizer(
            tokenizer=tokenize,
            lowercase=False,
            token_pattern=None,
            sublinear_tf=True,
            dtype=np.float32,
        )
        self._matrix: Any = self._vectorizer.fit_transform(
            [product_text(p) for p in products]
        ).T.tocsr()
        self._ids = np.array([p.id for p in products], dtype=np.int64)
        self.batch_size = batch_size

    def search(
        self, queries: Sequence[str], exclude: Sequence[Collection[int]], n: int
    ) -> list[list[tuple[int, float]]]:
        """For each query, the ``n`` most TF-IDF-similar products not in its ``exclude`` ids
        (a set or an array).

        Returns (product id, cosine) lists, best first; products with similarity 0 are never
        returned, so a query sharing no word with the catalog gets fewer than ``n``.
        """
        out: list[list[tuple[int, float]]] = []
        if n == 0:
            return [[] for _ in queries]
        for start in range(0, len(queries), self.batch_size):
            batch = queries[start : start + self.batch_size]
            sims = (self._vectorizer.transform(batch) @ self._matrix).toarray()
            for row, excluded in zip(sims, exclude[start : start + len(batch)], strict=True):
                depth = min(len(row), n + len(excluded))
                top = np.argpartition(-row, depth - 1)[:depth]
                top = top[np.lexsort((self._ids[top], -row[top]))]
                banned = np.fromiter(excluded, np.int64, len(excluded))
                top = top[(row[top] > 0) & ~np.isin(self._ids[top], banned)][:n]
                out.append([(int(self._ids[i]), float(row[i])) for i in top])
        return out


def random_negatives(
    product_ids: npt.NDArray[np.int64], query: str, exclude: set[int], n: int, seed: int
) -> list[int]:
    """``n`` distinct product ids drawn uniformly, not in ``exclude``, seeded by (seed, query).

    ``query`` is the query's text, not its store id, and ``product_ids`` should come in an
    order the data fixes (the mine orders them by external id): then two stores holding the
    same data draw the same negatives, whatever ids their databases handed out (PostgreSQL
    spends sequence numbers in rolled-back transactions).
    """
    if n == 0 or len(product_ids) == 0:
        return []
    rng = np.random.default_rng([seed, seeded_int(query)])
    picked: list[int] = []
    seen: set[int] = set()
    limit = (
        len(product_ids) - len(exclude & set(product_ids.tolist()))
        if len(product_ids) < 4 * (n + len(exclude))
        else None
    )
    want = min(n, limit) if limit is not None else n
    while len(picked) < want:
        for i in rng.integers(0, len(product_ids), size=2 * (want - len(picked)) + 8):
            pid = int(product_ids[i])
            if pid not in exclude and pid not in seen:
                seen.add(pid)
                picked.append(pid)
                if len(picked) == want:
                    break
    return picked
