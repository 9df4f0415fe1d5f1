"""The ``cross_encoder`` backend: a sentence-transformers CrossEncoder with one output per grade.

Tier 1 of the offline cascade. :func:`train_cross_encoder` fine-tunes it on human labels (the
tier-training split only) starting from the packaged all-MiniLM-L6-v2 weights — a bi-encoder
checkpoint, so the 4-way classification head starts fresh — and saves it; the backend then
loads the saved folder. Grades come out as the softmax over the four logits.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from annotator.backends.base import Answer, Pair
from core.errors import DissentError
from prompts import Prompt

__all__ = ["CrossEncoderBackend", "pair_text", "train_cross_encoder"]

log = logging.getLogger(__name__)


def pair_text(product: Mapping[str, Any]) -> str:
    """The product side of a cross-encoder input: title, then brand, type and attributes."""
    parts = [str(product.get("title") or "")]
    for key in ("brand", "product_type"):
        if product.get(key):
            parts.append(f"{key.replace('_', ' ')}: {product[key]}")
    attributes = product.get("attributes") or {}
    if attributes:
        parts.append("; ".join(f"{k}: {v}" for k, v in attributes.items()))
    return " | ".join(parts)


class CrossEncoderBackend:
    """Grades pairs with a trained 4-label CrossEncoder saved at ``model``."""

    def __init__(self, model: str | Path, *, batch_size: int = 64, device: str = "cpu") -> None:
        path = Path(model)
        if not (path / "config.json").exists():
            raise DissentError(
                f"no trained cross-encoder at {path}; train tier 1 first with "
                "`dissent annotate train-tier1`, or set the tier's model to a saved CrossEncoder"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import CrossEncoder

        self._model: Any = CrossEncoder(str(path), device=device, local_files_only=True)
        if self._model.num_labels != 4:
            raise DissentError(
                f"{path}: the cross-encoder has {self._model.num_labels} outputs; need 4"
            )
        self.model_id = f"cross_encoder:{path.name}"
        self.batch_size = batch_size

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        if not pairs:
            return []
        started = time.perf_counter()
        inputs = [(p.query, pair_text(p.product)) for p in pairs]
        probs = self._model.predict(
            inputs, batch_size=self.batch_size, apply_softmax=True, show_progress_bar=False
        )
        each = (time.perf_counter() - started) / len(pairs)
        tokenizer = self._model.tokenizer
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


def _check_examples(examples: Sequence[tuple[str, Mapping[str, Any], int]]) -> None:
    if not examples:
        raise DissentError("no training examples for the cross-encoder: ingest human labels first")
    bad = [g for _, _, g in examples if not 0 <= g <= 3]
    if bad:
        raise DissentError(f"grades must be 0-3 to train the cross-encoder, got {sorted(set(bad))}")


def train_cross_encoder(
    examples: Sequence[tuple[str, Mapping[str, Any], int]],
    output_dir: Path,
    *,
    base_model: str | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_length: int = 128,
    seed: int = 0,
) -> Path:
    """Fine-tune a 4-label CrossEncoder on (query, product fields, grade) examples and save it.

    Args:
        examples: human-labelled training pairs (the tier-training split only).
        output_dir: where the model is saved (replaced if it exists).
        base_model: starting weights; default the packaged all-MiniLM-L6-v2.
        epochs, batch_size, learning_rate, max_length, seed: training settings.

    Returns:
        ``output_dir``.

    Raises:
        DissentError: no examples, or a grade outside 0–3.
    """
    _check_examples(examples)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from datasets import Dataset
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import CrossEntropyLoss

    from core.models import default_model_path

    start = base_model or default_model_path()
    # The 4-way classification head is freshly initialised here, before the trainer applies
    # its own seed: seed it too, or two runs on the same data train different models.
    from transformers import set_seed

    set_seed(seed)
    model = CrossEncoder(
        start, num_labels=4, max_length=max_length, device="cpu", local_files_only=True
    )
    dataset = Dataset.from_dict(
        {
            "query": [q for q, _, _ in examples],
            "product": [pair_text(p) for _, p, _ in examples],
            "label": [int(g) for _, _, g in examples],
        }
    )
    args = CrossEncoderTrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        num_train_epochs=epochs,
        per_device_train_batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_steps=0.1,
        seed=seed,
        save_strategy="no",
        report_to="none",
        logging_steps=50,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = CrossEncoderTrainer(
        model=model, args=args, train_dataset=dataset, loss=CrossEntropyLoss(model)
    )
    started = time.perf_counter()
    trainer.train()
    log.info(
        "trained the cross-encoder on %d pairs in %.0f s",
        len(examples),
        time.perf_counter() - started,
    )
    model.save_pretrained(str(output_dir))
    return output_dir
