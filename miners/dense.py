"""The ``dense`` channel: the team's existing embedding model behind a faiss index.

Products are embedded (or their precomputed production embeddings loaded), normalised so
inner product is cosine similarity, and indexed:

- ``flat`` (default): exact ``IndexFlatIP``.
- ``ivf``: ``IndexIVFFlat`` with ``nlist`` lists (default ``4*sqrt(N)``), ``nprobe`` searched.
- ``hnsw``: ``IndexHNSWFlat`` with ``hnsw_m`` links and ``ef_search``.
- ``truncate_dim``: Matryoshka truncation (then re-normalised) for smaller indexes.
- ``binary``: sign bits in an ``IndexBinaryFlat``; the score is the number of matching bits.

Embeddings are cached by (model, product content hash) under ``cache_dir``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.encoder import Encoder, Matrix, normalize
from core.errors import StoreError
from miners.base import SearchResult
from miners.config import DenseConfig
from miners.embeddings import EmbeddingCache, load_precomputed
from store.catalog import ProductDoc, product_text

__all__ = ["DenseChannel"]

log = logging.getLogger(__name__)


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - faiss-cpu is a core dependency
        raise StoreError("faiss is missing; `pip install faiss-cpu`") from exc
    return faiss


class DenseChannel:
    """Embedding retrieval; see the module docstring for index options.

    Without an ``encoder`` it encodes with a torch :class:`core.encoder.Encoder` of
    ``config.model``; :func:`miners.registry.build_channel` builds the encoder from the whole
    configuration (precision and ``config.runtime``).
    """

    name = "dense"

    def __init__(
        self,
        config: DenseConfig | None = None,
        cache_dir: Path | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        self.config = config or DenseConfig()
        self.cache_dir = cache_dir
        self.encoder = encoder or Encoder(self.config.model, self.config.batch_size)
        self._ids = np.zeros(0, dtype=np.int64)
        self._index: Any = None

    # --------------------------------------------------------------- vectors
    def embed_products(self, products: Sequence[ProductDoc]) -> Matrix:
        """Unit vectors for ``products``: precomputed, cached, or freshly encoded."""
        if self.config.embeddings_path is not None:
            vectors = load_precomputed(
                self.config.embeddings_path, [p.external_id for p in products]
            )
            return normalize(vectors)
        hashes = [p.content_hash or product_text(p) for p in products]
        cache = EmbeddingCache(self.cache_dir, self.encoder.key) if self.cache_dir else None
        found, cached = cache.lookup(hashes) if cache else (np.zeros(len(products), bool), None)
        todo = [i for i in range(len(products)) if not found[i]]
        # products with the same content (same hash) are encoded once
        first: dict[str, int] = {}
        for i in todo:
            first.setdefault(hashes[i], i)
        unique = list(first.values())
        log.info(
            "dense: %d products cached, %d to encode (%d distinct)",
            int(found.sum()),
            len(todo),
            len(unique),
        )
        texts = [product_text(products[i]) for i in unique]
        fresh = self.encoder.encode(texts, label="dense: encoding products")
        if cache is not None and unique:
            cache.add([hashes[i] for i in unique], fresh)
        dim = fresh.shape[1] if unique or cached is None else cached.shape[1]
        vectors = np.zeros((len(products), dim), dtype=np.float32)
        if cached is not None:
            vectors[found] = cached
        if todo:
            row = {h: r for r, h in enumerate(first)}
            vectors[todo] = fresh[[row[hashes[i]] for i in todo]]
        return vectors

    def _prepare(self, vectors: Matrix) -> Matrix:
        vectors = normalize(vectors, self.config.truncate_dim)
        if self.config.binary:
            return np.packbits(vectors > 0, axis=1)  # type: ignore[return-value]
        return vectors

    # ------------------------------------------------------------------ index
    def index(self, products: Sequence[ProductDoc]) -> None:
        self.index_vectors([p.id for p in products], self.embed_products(products))

    def index_vectors(self, ids: Sequence[int], vectors: Matrix) -> None:
        """Index given product vectors (ids are store primary keys)."""
        faiss = _faiss()
        self._ids = np.asarray(ids, dtype=np.int64)
        data = self._prepare(vectors)
        cfg = self.config
        if cfg.binary:
            index = faiss.IndexBinaryFlat(data.shape[1] * 8)
        elif cfg.index == "flat":
            index = faiss.IndexFlatIP(data.shape[1])
        elif cfg.index == "ivf":
            nlist = cfg.nlist or max(1, int(4 * math.sqrt(len(data))))
            nlist = min(nlist, len(data))
            quantizer = faiss.IndexFlatIP(data.shape[1])
            index = faiss.IndexIVFFlat(quantizer, data.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
            index.train(data)
            index.nprobe = min(cfg.nprobe, nlist)
        else:
            index = faiss.IndexHNSWFlat(data.shape[1], cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = cfg.ef_search
        index.add(data)
        self._index = index
        log.info(
            "dense (%s): indexed %d products", "binary" if cfg.binary else cfg.index, len(data)
        )

    # ----------------------------------------------------------------- search
    def search(self, queries: Sequence[str], k: int) -> SearchResult:
        return self.search_vectors(self.encoder.encode(list(queries)), k)

    def search_vectors(self, vectors: Matrix, k: int) -> SearchResult:
        """Top-k for given query vectors."""
        if self._index is None:
            raise StoreError("the dense channel has no index; call index() or load() first")
        if len(vectors) == 0:
            return SearchResult.empty(0, k)
        data = self._prepare(vectors)
        depth = min(k, len(self._ids))
        scores, positions = self._index.search(data, depth)
        if self.config.binary:  # Hamming distance -> matching bits, higher is better
            scores = data.shape[1] * 8 - scores.astype(np.float32)
        result = SearchResult.empty(len(vectors), k)
        valid = positions >= 0
        result.ids[:, :depth] = np.where(valid, self._ids[np.maximum(positions, 0)], -1)
        result.scores[:, :depth] = np.where(valid, scores, -np.inf)
        return result

    # -------------------------------------------------------------- save/load
    def save(self, directory: Path) -> None:
        if self._index is None:
            raise StoreError("the dense channel has no index to save")
        faiss = _faiss()
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "ids.npy", self._ids)
        meta = {
            "channel": self.name,
            "encoder_model": self.encoder.model_path,
            "encoder_precision": self.encoder.precision,
            "encoder_runtime": self.encoder.runtime,
            **self.config.model_dump(mode="json"),
        }
        (directory / "channel.json").write_text(json.dumps(meta, indent=2))
        if self.config.binary:
            faiss.write_index_binary(self._index, str(directory / "index.faiss"))
        else:
            faiss.write_index(self._index, str(directory / "index.faiss"))

    def load(self, directory: Path) -> None:
        meta_path = directory / "channel.json"
        if not meta_path.exists():
            raise StoreError(f"{directory} holds no saved dense index (no channel.json)")
        faiss = _faiss()
        meta = json.loads(meta_path.read_text())
        meta.pop("channel", None)
        model = meta.pop("encoder_model")
        precision = meta.pop("encoder_precision")
        runtime = meta.pop("encoder_runtime", "torch")  # indexes saved before runtimes existed
        self.config = DenseConfig.model_validate(meta)
        current = (self.encoder.model_path, self.encoder.precision, self.encoder.runtime)
        if current != (model, precision, runtime):
            self.encoder = Encoder(
                model,
                self.config.batch_size,
                precision=precision,
                runtime=runtime,
                export_dir=self.encoder.export_dir,
            )
        self._ids = np.load(directory / "ids.npy")
        reader = faiss.read_index_binary if self.config.binary else faiss.read_index
        self._index = reader(str(directory / "index.faiss"))
