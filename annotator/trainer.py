"""Training a trainable tier: fine-tune a 4-grade classifier and choose its epoch.

:func:`train_tier1_model` fine-tunes a sequence classifier with four outputs on a
:class:`~annotator.training_data.TrainingSet`: cross-entropy plus ``ordinal_weight`` times the
squared error of the expected grade (predicting 0 for a 3 costs more than predicting 2), in the
pipeline's ``precision`` (:func:`core.precision.resolve_precision`), for up to ``epochs``
epochs, keeping the epoch whose dev-slice QWK is best (the last without a dev slice). It starts
from ``base_model`` (:mod:`annotator.base_models`: the packaged MiniLM by default, the packaged
Gemma 3 270M, a GGUF, a model folder); with ``lora`` set only peft LoRA adapters and the grade
head train, and the adapters are merged into the weights when the model is saved. The product
text the model reads is chosen by ``fields`` and ``description_chars``; both are saved beside
the weights (``dissent-tier.json``), so the backend reads products the way the model was
trained (:func:`~annotator.backends.cross_encoder.pair_text`).

``consistency_weight`` (default 0: off; a benchmark setting) adds that weight times the squared
difference between each injected or boilerplate copy's expected grade and its clean twin's,
the twin riding in the same batch and held fixed (no gradient): the appended words must not
move the grade at all. Holding the twin fixed keeps the model from satisfying the term by
flattening every prediction.

After training, :mod:`annotator.combiner` fits a regression of the model's answers and the
pairs' channel signals on the dev slice plus random products for its queries, and saves it
beside the weights when it gains enough there (:class:`~annotator.combiner.CombinerSettings`).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.backends.cross_encoder import TIER_FILE, pair_text
from annotator.base_models import resolve_base_model
from annotator.combiner import COMBINER_FILE, CombinerFit, CombinerSettings, fit_combiner
from annotator.config import Tier1Training
from annotator.decision import fit_decider, qwk
from annotator.training_data import Example, TrainingSet
from core.errors import DissentError
from core.hashing import content_hash
from core.precision import Precision, resolve_precision
from core.progress import track

__all__ = ["TrainingResult", "train_tier1_model", "training_record"]

log = logging.getLogger(__name__)


@dataclass
class TrainingResult:
    """Where the model went and how each epoch did on the dev slice."""

    output_dir: str
    epochs_run: int
    best_epoch: int
    dev_qwk: list[float]
    seconds: float
    counts: dict[str, int]
    precision: str
    combiner: dict[str, Any] | None = None  # annotator.combiner.CombinerFit.summary()


def _batches(n: int, size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i : i + size] for i in range(0, n, size)]


class _Trainer:
    """The training loop over a CrossEncoder's underlying model (one concept: an epoch)."""

    def __init__(
        self,
        settings: Tier1Training,
        base_model: str,
        steps: int,
        precision: Precision,
        consistency_weight: float,
    ) -> None:
        import torch
        from sentence_transformers import CrossEncoder
        from transformers import get_linear_schedule_with_warmup, set_seed

        set_seed(settings.seed)  # the 4-way head starts fresh: seed it, or runs differ
        self.settings = settings
        self.consistency_weight = consistency_weight
        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.encoder = CrossEncoder(
            base_model,
            num_labels=4,
            max_length=settings.max_length,
            device=self.device,
            local_files_only=True,
        )
        self.model = self.encoder.model
        self.tokenizer = self.encoder.tokenizer
        if self.tokenizer.pad_token_id is None:  # decoders (Gemma) may ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        if settings.lora is not None:
            from peft import LoraConfig, get_peft_model

            lora = settings.lora
            self.model = get_peft_model(
                self.model,
                LoraConfig(
                    task_type="SEQ_CLS",  # the grade head trains whole beside the adapters
                    r=lora.r,
                    lora_alpha=lora.alpha,
                    lora_dropout=lora.dropout,
                    target_modules=list(lora.target_modules),
                ),
            )
        self.precision = resolve_precision(precision, self.device)
        self.trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.trainable, lr=settings.learning_rate)
        self.schedule = get_linear_schedule_with_warmup(
            self.optimizer, max(1, int(0.1 * steps)), max(1, steps)
        )

    def trained_state(self) -> dict[str, Any]:
        """A copy of what training changes (all weights, or the adapters and the head)."""
        return {
            name: value.detach().clone()
            for name, value in self.model.named_parameters()
            if value.requires_grad
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state, strict=False)

    def save(self, output_dir: Path) -> None:
        """Save the model (adapters merged into the weights) and its tokenizer."""
        model = self.model
        if self.settings.lora is not None:
            model = model.merge_and_unload()
        output_dir.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(output_dir))
        self.tokenizer.save_pretrained(str(output_dir))

    def _inputs(self, examples: Sequence[Example]) -> Any:
        s = self.settings
        return self.tokenizer(
            [e.query for e in examples],
            [pair_text(e.product, s.fields, s.description_chars) for e in examples],
            padding=True,
            truncation=True,
            max_length=s.max_length,
            return_tensors="pt",
        )

    def _logits(self, examples: Sequence[Example]) -> Any:
        with self.torch.autocast(
            self.device, dtype=self.torch.bfloat16, enabled=self.precision != "float32"
        ):
            return self.model(**self._inputs(examples).to(self.device)).logits.float()

    def epoch(self, examples: Sequence[Example], rng: random.Random, label: str) -> float:
        torch = self.torch
        self.model.train()
        grades = torch.arange(4, dtype=torch.float32, device=self.device)
        total = 0.0
        batches = _batches(len(examples), self.settings.batch_size, rng)
        for batch in track(batches, label, total=len(batches)):
            chosen = [examples[i] for i in batch]
            target = torch.tensor([e.grade for e in chosen], device=self.device)
            weight = self.consistency_weight
            copies = [i for i, e in enumerate(chosen) if e.clean is not None] if weight else []
            twins = [Example(chosen[i].query, chosen[i].clean or {}, 0) for i in copies]
            logits = self._logits([*chosen, *twins])  # one forward pass for both
            logits, twin_logits = logits[: len(chosen)], logits[len(chosen) :]
            loss = torch.nn.functional.cross_entropy(logits, target)
            expected = logits.softmax(dim=-1) @ grades
            if self.settings.ordinal_weight > 0:
                loss = loss + self.settings.ordinal_weight * ((expected - target) ** 2).mean()
            if copies:  # the appended words must not move the expected grade
                clean = (twin_logits.softmax(dim=-1) @ grades).detach()
                moved = expected[copies] - clean
                loss = loss + weight * (moved**2).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.trainable, 1.0)
            self.optimizer.step()
            self.schedule.step()
            self.optimizer.zero_grad()
            total += float(loss.detach())
        return total / max(1, len(batches))

    def predict(self, examples: Sequence[Example], batch_size: int = 128) -> np.ndarray:
        self.model.eval()
        out = []
        with self.torch.inference_mode():
            for start in range(0, len(examples), batch_size):
                logits = self._logits(examples[start : start + batch_size])
                out.append(logits.softmax(dim=-1).cpu().numpy())
        return np.vstack(out) if out else np.zeros((0, 4))


def _dev_qwk(trainer: _Trainer, dev: Sequence[Example]) -> float:
    """QWK on the dev slice of the expected grade, cut where it is best for this model."""
    dists = trainer.predict(dev)
    human = np.array([e.grade for e in dev], dtype=np.int64)
    return qwk(human, fit_decider("qwk", dists, human).grades(dists))


def _fit_combiner(
    trainer: _Trainer, data: TrainingSet, settings: CombinerSettings, seed: int
) -> CombinerFit:
    """The combiner of the trained model's answers and the channel signals, fitted on the dev
    slice plus random products for its queries (so that it too learns what unrelated means)."""
    examples = [*data.dev, *data.dev_negatives] if data.dev and settings.signals else []
    fitted = fit_combiner(
        trainer.predict(examples) if examples else np.zeros((0, 4)),
        [e.query for e in examples],
        [e.product for e in examples],
        [e.grade for e in examples],
        [e.query for e in examples],  # folds by query
        signals=settings.signals if examples else [],
        stats=data.catalog if "lexical" in settings.signals else None,
        dense_model=settings.dense_model,
        min_pairs=settings.min_pairs,
        min_gain=settings.min_gain,
        seed=seed,
    )
    log.info("tier 1 combiner: %s", fitted.summary())
    return fitted


def training_record(
    settings: Tier1Training,
    *,
    precision: Precision = "auto",
    consistency_weight: float = 0.0,
    combiner: CombinerSettings = CombinerSettings(),
) -> dict[str, Any]:
    """Everything a training ran with, as JSON: the tier's settings and the fixed choices."""
    return {
        **settings.model_dump(mode="json"),
        "consistency_weight": consistency_weight,
        "signals": list(combiner.signals),
        "dense_model": combiner.dense_model,
        "combiner_min_pairs": combiner.min_pairs,
        "combiner_min_gain": combiner.min_gain,
        "precision": precision,
    }


def _epochs(
    trainer: _Trainer, data: TrainingSet, settings: Tier1Training
) -> tuple[int, int, list[float]]:
    """Train up to ``settings.epochs`` epochs; restore the best on the dev slice.

    Returns the epochs run, the epoch kept and the dev QWK of each epoch.
    """
    rng = random.Random(settings.seed)
    scores: list[float] = []
    best_state: dict[str, Any] | None = None
    best = epoch = 0
    for epoch in range(1, settings.epochs + 1):
        loss = trainer.epoch(data.fit, rng, f"tier 1 epoch {epoch}/{settings.epochs}, batches")
        if not data.dev:  # nothing to choose on: the last epoch
            best = epoch
            continue
        scores.append(_dev_qwk(trainer, data.dev))
        log.info("tier 1 epoch %d: loss %.4f, dev QWK %.3f", epoch, loss, scores[-1])
        if scores[-1] > max(scores[:-1], default=-2.0):
            best, best_state = epoch, trainer.trained_state()
        elif epoch - best >= 2:
            break  # two epochs without progress on the dev slice
    if best_state is not None:
        trainer.restore(best_state)
    return epoch, best, scores


def train_tier1_model(
    data: TrainingSet,
    output_dir: Path,
    settings: Tier1Training,
    *,
    precision: Precision = "auto",
    workdir: Path | None = None,
    consistency_weight: float = 0.0,
    combiner: CombinerSettings = CombinerSettings(),
) -> TrainingResult:
    """Train, choose the epoch on the dev slice, and save model and metadata to ``output_dir``.

    Args:
        data: the examples (:func:`annotator.training_data.training_set`).
        output_dir: where the model, its combiner and ``dissent-tier.json`` go.
        settings: the tier's training settings.
        precision: the pipeline's ``precision`` (``auto``: bfloat16 where native).
        workdir: where a GGUF base model is converted once (default: ``output_dir``'s parent).
        consistency_weight: the consistency term's weight (0: off; see the module docstring).
        combiner: how the combiner is fitted after training.

    Returns:
        The epochs run and kept, the dev QWK per epoch, the counts and the combiner's summary.

    Raises:
        DissentError: nothing to train on, or a base model that cannot be found.
    """
    if not data.fit:
        raise DissentError("no training examples for the cross-encoder: ingest human labels")
    started = time.perf_counter()
    steps = settings.epochs * math.ceil(len(data.fit) / settings.batch_size)
    base = resolve_base_model(settings.base_model, workdir or output_dir.parent, settings.seed)
    trainer = _Trainer(settings, base, steps, precision, consistency_weight)
    epochs_run, best, scores = _epochs(trainer, data, settings)
    trainer.save(output_dir)
    fitted = _fit_combiner(trainer, data, combiner, settings.seed)
    (output_dir / COMBINER_FILE).unlink(missing_ok=True)  # a retrained model's old combiner
    if fitted.combiner is not None:
        fitted.combiner.save(output_dir)
    result = TrainingResult(
        str(output_dir),
        epochs_run,
        best,
        scores,
        time.perf_counter() - started,
        data.counts,
        trainer.precision,
        fitted.summary(),
    )
    record = training_record(
        settings, precision=precision, consistency_weight=consistency_weight, combiner=combiner
    )
    meta = {
        "fields": list(settings.fields),
        "description_chars": settings.description_chars,
        "max_length": settings.max_length,
        "base_model": base,
        "training": record,
        "result": {k: v for k, v in asdict(result).items() if k != "output_dir"},
        "data": content_hash([(e.query, e.grade, e.kind) for e in data.fit]),
    }
    (output_dir / TIER_FILE).write_text(json.dumps(meta, indent=2, default=str))
    return result
