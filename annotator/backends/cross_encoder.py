"""The ``cross_encoder`` backend: a sentence-transformers CrossEncoder with one output per grade.

Tier 1 of the offline cascade. :mod:`annotator.trainer` fine-tunes it on human labels (the
tier-training split only, plus sampled negatives and appended copies,
:mod:`annotator.training_data`) starting from the packaged all-MiniLM-L6-v2 weights — a
bi-encoder checkpoint, so the 4-way classification head starts fresh — and saves it with the
product fields it reads (``dissent-tier.json``); the backend loads the saved folder and reads
products the same way. Grades come out as the softmax over the four logits, in the pipeline's
``precision`` (:func:`core.precision.resolve_precision`). The model id hashes the weights, so
a retrained model is a new model.

Any sequence classifier with four outputs serves here, whatever it started from: a tier whose
``training.base_model`` is the packaged Gemma 3 270M (or a bigger decoder) with LoRA
adapters is saved with the adapters merged, and loads like the MiniLM one.

A model folder with a ``combiner.json`` (:mod:`annotator.combiner`, fitted when the tier
trains) passes the classifier's distribution and the pair's channel signals through it; the
tier's answer is the combined distribution.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.backends.base import Answer, Capabilities, Pair
from annotator.combiner import COMBINER_FILE, Combiner
from core.errors import DissentError
from core.hashing import file_digest
from core.precision import Precision, resolve_precision
from prompts import Prompt

__all__ = ["TIER_FILE", "CrossEncoderBackend", "pair_text", "weights_digest"]

log = logging.getLogger(__name__)


TIER_FILE = "dissent-tier.json"
LEGACY_FIELDS = ("title", "brand", "product_type", "attributes")


def pair_text(
    product: Mapping[str, Any],
    fields: Sequence[str] = LEGACY_FIELDS,
    description_chars: int = 300,
) -> str:
    """The product side of a cross-encoder input: the chosen fields, in order, joined by `` | ``.

    Example:
        >>> pair_text({"title": "Drill", "brand": "DEWALT", "attributes": {"volts": "20V"}})
        'Drill | brand: DEWALT | volts: 20V'
    """
    parts = []
    for name in fields:
        value = product.get(name)
        if not value:
            continue
        if name == "title":
            parts.append(str(value))
        elif name == "attributes":
            parts.append("; ".join(f"{k}: {v}" for k, v in dict(value).items()))
        elif name == "description":
            parts.append(f"description: {str(value)[:description_chars]}")
        else:
            parts.append(f"{name.replace('_', ' ')}: {value}")
    return " | ".join(parts)


def _num_labels(config: Mapping[str, Any]) -> int:
    """The number of outputs a saved classifier's ``config.json`` declares."""
    if "id2label" in config:
        return len(config["id2label"])
    return int(config.get("num_labels", 2))  # transformers' default


def weights_digest(directory: Path) -> str:
    """SHA-256 over a saved model's weight files and combiner: its identity, whatever folder it
    sits in."""
    files = sorted(
        [*directory.glob("*.safetensors"), *directory.glob("*.bin"), *directory.glob(COMBINER_FILE)]
    )
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        file_digest(file, digest)
    return digest.hexdigest()


class CrossEncoderBackend(Capabilities):
    """Grades pairs with a trained 4-label CrossEncoder saved at ``model``.

    The folder is checked and its weights hashed (the model id) when the backend is built; torch
    and the weights load on the first :meth:`grade`, so a run whose pairs are all labelled or
    cached (``dissent annotate`` again) never pays for them. ``precision`` is the pipeline's
    setting (``auto``: bfloat16 autocast where the device runs it natively).
    """

    trainable = True

    def __init__(
        self,
        model: str | Path,
        *,
        batch_size: int = 64,
        device: str | None = None,
        precision: Precision = "auto",
    ) -> None:
        path = Path(model)
        config_file = path / "config.json"
        if not config_file.exists():
            raise DissentError(
                f"no trained cross-encoder at {path}; train tier 1 first with "
                "`dissent annotate train-tier1` (another cross_encoder tier: `dissent annotate "
                "train-tier --tier NAME`), or set the tier's model to a saved CrossEncoder"
            )
        outputs = _num_labels(json.loads(config_file.read_text()))
        if outputs != 4:
            raise DissentError(f"{path}: the cross-encoder has {outputs} outputs; need 4")
        meta_file = path / TIER_FILE
        meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
        # Identity is the weights' content: retraining into the same folder is a new model, so
        # its judgments and calibrations are never served from the old one's cache.
        self.model_id = f"cross_encoder:{path.name}@{weights_digest(path)[:16]}"
        self.path = path
        self.batch_size = batch_size
        self.fields: Sequence[str] = meta.get("fields", LEGACY_FIELDS)
        self.description_chars = int(meta.get("description_chars", 300))
        self.max_length: int | None = meta.get("max_length")
        self.combiner = Combiner.load(path)
        self._device = device
        self._precision = precision
        self.bf16 = False  # set when the weights load
        self._model: Any = None

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (they load on the first :meth:`grade`)."""
        return self._model is not None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            import torch
            from sentence_transformers import CrossEncoder

            device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model = CrossEncoder(
                str(self.path), device=device, local_files_only=True, max_length=self.max_length
            )
            self._device = device
            self.bf16 = resolve_precision(self._precision, device) == "bfloat16"
        return self._model

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        if not pairs:
            return []
        model = self._load()
        started = time.perf_counter()
        inputs = [
            (p.query, pair_text(p.product, self.fields, self.description_chars)) for p in pairs
        ]
        import torch

        with torch.autocast(self._device or "cpu", dtype=torch.bfloat16, enabled=self.bf16):
            probs = model.predict(
                inputs, batch_size=self.batch_size, apply_softmax=True, show_progress_bar=False
            )
        if self.combiner is not None:
            probs = self.combiner.apply(
                np.asarray(probs, dtype=np.float64),
                [p.query for p in pairs],
                [p.product for p in pairs],
            )
        each = (time.perf_counter() - started) / len(pairs)
        tokenizer = model.tokenizer
        answers = []
        for (query, text), row in zip(inputs, probs, strict=True):
            tokens = len(tokenizer(query, text, truncation=True)["input_ids"])
            answers.append(
                Answer(
                    [float(x) for x in row],
                    raw=None,
                    tokens_in=tokens,
                    tokens_out=0,
                    latency_s=each,
                )
            )
        return answers

    def close(self) -> None:
        self._model = None
