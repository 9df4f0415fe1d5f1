"""Product embeddings the dense channel reuses: a cache keyed by content hash, and precomputed
production embeddings. (Encoding itself is :class:`core.encoder.Encoder`.)

The cache stores one vector per (model, product content hash), so a re-run encodes only new
or changed products.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from core.encoder import Matrix
from core.errors import StoreError

__all__ = ["EmbeddingCache", "load_precomputed"]

log = logging.getLogger(__name__)


class EmbeddingCache:
    """Vectors by content hash for one model, as two ``.npy`` files in a folder."""

    def __init__(self, directory: Path, model_key: str) -> None:
        self.directory = directory / model_key
        self._hashes: dict[str, int] = {}
        self._vectors: Matrix | None = None
        if (self.directory / "vectors.npy").exists():
            hashes = np.load(self.directory / "hashes.npy")
            vectors = np.load(self.directory / "vectors.npy")
            if len(hashes) != len(vectors) or len(set(hashes.tolist())) != len(hashes):
                log.warning("embedding cache %s is inconsistent; ignoring it", self.directory)
                return
            self._vectors = vectors
            self._hashes = {h: i for i, h in enumerate(hashes.tolist())}

    def __len__(self) -> int:
        return len(self._hashes)

    def lookup(self, hashes: Sequence[str]) -> tuple[npt.NDArray[np.bool_], Matrix | None]:
        """Which hashes are cached, and their vectors (rows for the found ones, in order)."""
        found = np.array([h in self._hashes for h in hashes], dtype=bool)
        if self._vectors is None or not found.any():
            return found, None
        rows = [self._hashes[h] for h, f in zip(hashes, found, strict=True) if f]
        return found, self._vectors[rows]

    def add(self, hashes: Sequence[str], vectors: Matrix) -> None:
        """Append new vectors and write the cache atomically."""
        first: dict[str, int] = {}
        for i, h in enumerate(hashes):  # products with equal content share one vector
            if h not in self._hashes:
                first.setdefault(h, i)
        new = list(first.items())
        if not new:
            return
        add = vectors[[i for _, i in new]]
        base = len(self._hashes)
        self._vectors = add if self._vectors is None else np.vstack([self._vectors, add])
        for offset, (h, _) in enumerate(new):
            self._hashes[h] = base + offset
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, array in (("hashes", np.array(list(self._hashes))), ("vectors", self._vectors)):
            tmp = self.directory / f"{name}.tmp.npy"
            np.save(tmp, array)
            tmp.replace(self.directory / f"{name}.npy")


def load_precomputed(path: Path, external_ids: Sequence[str]) -> Matrix:
    """Precomputed embeddings for ``external_ids``, in that order.

    Accepts Parquet with ``external_id`` and ``embedding`` (list of floats) columns, or
    ``.npy`` with a sibling ``<stem>.ids.txt`` holding one external id per row.

    Raises:
        StoreError: the file is unreadable, lacks the id column, or misses some products.
    """
    if path.suffix == ".npy":
        ids_path = path.with_suffix(".ids.txt")
        if not ids_path.exists():
            raise StoreError(
                f"{path}: precomputed .npy embeddings need {ids_path} (one external id per row)"
            )
        vectors = np.load(path)
        ids = ids_path.read_text(encoding="utf-8").splitlines()
        if len(ids) != len(vectors):
            raise StoreError(f"{path}: {len(vectors)} vectors but {len(ids)} ids in {ids_path}")
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        missing = {"external_id", "embedding"} - set(table.column_names)
        if missing:
            raise StoreError(
                f"{path}: missing column(s) {sorted(missing)}; need external_id and embedding"
            )
        ids = [str(x) for x in table.column("external_id").to_pylist()]
        vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
    row = {external_id: i for i, external_id in enumerate(ids)}
    absent = [e for e in external_ids if e not in row]
    if absent:
        raise StoreError(
            f"{path}: no embedding for {len(absent)} of {len(external_ids)} products "
            f"(first: {', '.join(absent[:5])})"
        )
    return np.asarray(vectors[[row[e] for e in external_ids]], dtype=np.float32)
