"""The ``bm25`` channel: Okapi BM25 over product title (+ description).

Two engines score the same thing:

- ``bm25s`` (default): sparse precomputed scores, with the numba backend (without numba it is
  about 100x slower on this kind of data).
- ``rank_bm25``: ``BM25Okapi``, the pure-Python reference engine the tests compare against.

Both use :func:`core.tokenize.tokenize` and the same variant: Robertson's idf
``log((N - df + 0.5) / (df + 0.5))`` floored at 0 (``bm25s`` ``method="robertson"``;
``BM25Okapi(epsilon=0)``) and the saturating term frequency with ``k1`` and ``b``; the two
differ only by the constant factor ``k1 + 1``, which does not change rankings. Products with
score 0 (no query term) are not returned. Ties are broken by product id for reproducibility.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.errors import StoreError
from core.tokenize import tokenize
from miners.base import SearchResult
from miners.config import Bm25Config
from store.catalog import ProductDoc, product_text

__all__ = ["Bm25Channel"]

log = logging.getLogger(__name__)


def _ranked(ids: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best-first (score desc, id asc) top-k of one row, dropping non-positive scores."""
    keep = scores > 0
    ids, scores = ids[keep], scores[keep]
    order = np.lexsort((ids, -scores))[:k]
    return ids[order], scores[order]


class Bm25Channel:
    """BM25 retrieval; see the module docstring for the variant."""

    name = "bm25"

    def __init__(
        self, config: Bm25Config | None = None, engine: Literal["bm25s", "rank_bm25"] = "bm25s"
    ) -> None:
        self.config = config or Bm25Config()
        self.engine_name = engine
        self._ids = np.zeros(0, dtype=np.int64)
        self._engine: Any = None
        self._vocab: set[str] = set()

    # ------------------------------------------------------------------ index
    def index(self, products: Sequence[ProductDoc]) -> None:
        self._ids = np.array([p.id for p in products], dtype=np.int64)
        corpus = [
            tokenize(product_text(p, description=self.config.use_description)) for p in products
        ]
        # An all-empty document breaks neither engine, but an empty corpus does.
        corpus = [tokens or ["\x00empty"] for tokens in corpus]
        self._vocab = {t for tokens in corpus for t in tokens}
        if self.engine_name == "bm25s":
            import bm25s

            engine = bm25s.BM25(
                k1=self.config.k1, b=self.config.b, method="robertson", backend="numba"
            )
            engine.index(corpus, show_progress=False)
            self._engine = engine
        else:
            from rank_bm25 import BM25Okapi

            self._engine = BM25Okapi(corpus, k1=self.config.k1, b=self.config.b, epsilon=0.0)
        log.info("bm25 (%s): indexed %d products", self.engine_name, len(products))

    # ----------------------------------------------------------------- search
    def search(self, queries: Sequence[str], k: int) -> SearchResult:
        if self._engine is None:
            raise StoreError("the bm25 channel has no index; call index() or load() first")
        result = SearchResult.empty(len(queries), k)
        tokens = [[t for t in tokenize(q) if t in self._vocab] for q in queries]
        todo = [i for i, t in enumerate(tokens) if t]
        if not todo:
            return result
        if self.engine_name == "bm25s":
            # Retrieve past k so that ties at the cut are resolved by id, not by the engine.
            depth = min(len(self._ids), k + max(k, 100))
            docs, scores = self._engine.retrieve(
                [tokens[i] for i in todo],
                k=depth,
                backend_selection="numba",
                show_progress=False,
                return_as="tuple",
            )
            for row, i in enumerate(todo):
                ids, sc = _ranked(self._ids[docs[row]], scores[row], k)
                result.ids[i, : len(ids)], result.scores[i, : len(ids)] = ids, sc
        else:
            for i in todo:
                scores = np.asarray(self._engine.get_scores(tokens[i]), dtype=np.float32)
                cut = np.partition(scores, len(scores) - min(k, len(scores)))[-min(k, len(scores))]
                top = np.flatnonzero(scores >= cut)  # every tie at the cut, resolved by id below
                ids, sc = _ranked(self._ids[top], scores[top], k)
                result.ids[i, : len(ids)], result.scores[i, : len(ids)] = ids, sc
        return result

    # -------------------------------------------------------------- save/load
    def save(self, directory: Path) -> None:
        if self._engine is None:
            raise StoreError("the bm25 channel has no index to save")
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "ids.npy", self._ids)
        (directory / "channel.json").write_text(
            json.dumps(
                {
                    "channel": self.name,
                    "engine": self.engine_name,
                    **self.config.model_dump(mode="json"),
                },
                indent=2,
            )
        )
        if self.engine_name == "bm25s":
            self._engine.save(str(directory / "bm25s"), show_progress=False)
        else:
            (directory / "corpus.json").write_text(json.dumps(self._engine_corpus()))

    def _engine_corpus(self) -> list[dict[str, int]]:
        return [dict(doc) for doc in self._engine.doc_freqs]

    def load(self, directory: Path) -> None:
        meta_path = directory / "channel.json"
        if not meta_path.exists():
            raise StoreError(f"{directory} holds no saved bm25 index (no channel.json)")
        meta = json.loads(meta_path.read_text())
        meta.pop("channel", None)
        self.engine_name = meta.pop("engine", "bm25s")
        self.config = Bm25Config.model_validate(meta)
        self._ids = np.load(directory / "ids.npy")
        if self.engine_name == "bm25s":
            import bm25s

            self._engine = bm25s.BM25.load(str(directory / "bm25s"), mmap=True, show_progress=False)
            self._engine.backend = "numba"
            self._vocab = set(self._engine.vocab_dict)
        else:
            from rank_bm25 import BM25Okapi

            docs = json.loads((directory / "corpus.json").read_text())
            corpus = [[t for t, n in doc.items() for _ in range(n)] for doc in docs]
            self._engine = BM25Okapi(corpus, k1=self.config.k1, b=self.config.b, epsilon=0.0)
            self._vocab = {t for doc in docs for t in doc}
