"""The training loop: a planned recipe's stages, in order, each saved as it ends; resumable.

Training is a plain loop around sentence-transformers' own loss modules (the ones its trainer
calls) and Dissent's (:mod:`retriever.losses`): AdamW with linear warm-up (a tenth of the
steps) and decay, gradient clipping at 1, bfloat16 autocast where the pipeline's ``precision``
says so, a GPU where one exists, seeded batches (:mod:`retriever.batching`).

:func:`train_recipe` takes a recipe planned by :func:`retriever.plan.plan_recipe`. It hands back
a final model whose identity is the plan's without loading anything; otherwise it resumes
after the leading stages already trained with the same keys, saves every stage as it ends
(``progress.json`` lists them) and writes ``final/`` last, with a model card (README.md) and
``dissent-train.json``: the recipe, the identity, the stages, the train run and the export.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.precision import resolve_precision
from core.progress import track
from retriever.batching import epoch_batches
from retriever.card import render_card
from retriever.losses.base import Row
from retriever.losses.registry import TRIPLET_MARGIN, make_step
from retriever.plan import (
    TRAIN_JSON,
    PlannedStage,
    finished_model,
    resume_point,
    write_progress,
)

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings

__all__ = ["RecipeReport", "load_model", "train_recipe", "train_stage"]

log = logging.getLogger(__name__)


@dataclass
class RecipeReport:
    """What training one recipe did: where the model is, its identity, each stage's size and
    time, how many stages were already done, and the train run that made the final model."""

    recipe: str
    model_dir: str
    identity: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int = 0
    seconds: float = 0.0
    train_run: int | None = None


def load_model(path: str, max_length: int) -> Any:
    """A SentenceTransformer from a local folder, on the GPU where there is one."""
    import torch
    from sentence_transformers import SentenceTransformer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(path, device=device, local_files_only=True)
    model.max_seq_length = max_length
    return model


def train_stage(
    model: Any,
    rows: Sequence[Row],
    loss: str,
    config: RetrieverSettings,
    label: str,
    *,
    triplet_margin: float = TRIPLET_MARGIN,
) -> float:
    """``train.epochs`` passes over ``rows`` with ``loss``; returns the mean loss.

    Args:
        model: the SentenceTransformer, trained in place.
        rows: the stage's rows.
        loss: the stage's loss name (:data:`retriever.losses.base.LossName`).
        config: the pipeline config (``train`` and ``precision``).
        label: the progress bar's text.
        triplet_margin: ``triplet``'s margin on cosine distance.

    Returns:
        The mean loss over every step.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    settings = config.train
    rng = random.Random(settings.seed)
    steps = settings.epochs * math.ceil(len(rows) / settings.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), max(1, steps))
    step = make_step(loss, model, triplet_margin=triplet_margin)
    device = "cuda" if str(model.device).startswith("cuda") else "cpu"
    bf16 = resolve_precision(config.precision, str(model.device)) == "bfloat16"
    model.train()
    total, count = 0.0, 0
    for epoch in range(settings.epochs):
        batches = epoch_batches(rows, settings.batch_size, rng, loss)
        for batch in track(batches, f"{label} epoch {epoch + 1}, batches", total=len(batches)):
            with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
                value = step(model, batch)
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total, count = total + float(value.detach()), count + 1
    return total / max(1, count)


def _save_final(
    model: Any,
    report: RecipeReport,
    lineage: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> None:
    """``final/``: the model, its card, and ``dissent-train.json`` (written last: a final
    folder without it is incomplete and is written again)."""
    final = Path(report.model_dir)
    if final.exists():
        shutil.rmtree(final)
    model.save(str(final))
    (final / "README.md").write_text(render_card(report.recipe, report.stages, lineage, settings))
    meta = {**asdict(report), **lineage, "settings": dict(settings)}
    (final / TRAIN_JSON).write_text(json.dumps(meta, indent=2, default=str))


def train_recipe(
    recipe: str,
    planned: Sequence[PlannedStage],
    config: RetrieverSettings,
    settings: Mapping[str, Any],
    lineage: Mapping[str, Any],
    *,
    triplet_margin: float = TRIPLET_MARGIN,
) -> RecipeReport:
    """Train ``planned`` (one recipe, planned under ``<output>/<recipe>``) to ``final/``.

    Args:
        recipe: the recipe's name.
        planned: its stages, as :func:`retriever.plan.plan_recipe` planned them.
        config: the pipeline config.
        settings: what the plan hashed into its first key (``base_model`` is where the first
            stage starts).
        lineage: what the card and ``dissent-train.json`` name: ``train_run``, ``export``,
            ``export_hash``, ``export_run``, ``curriculum_run``.
        triplet_margin: ``triplet``'s margin on cosine distance.

    Returns:
        Where the final model is, its identity, the stages and how many were already done.
    """
    started = time.perf_counter()
    directory = planned[0].path.parent
    identity = planned[-1].key
    final = directory / "final"
    made = finished_model(final, identity)
    if made is not None:  # the very model this plan would train: nothing to do
        log.info("%s: %s already holds this model", recipe, final)
        return RecipeReport(
            recipe,
            str(final),
            identity,
            stages=made.get("stages", []),
            resumed_from=len(planned),
            seconds=time.perf_counter() - started,
            train_run=made.get("train_run"),
        )
    if final.exists():  # made from other data or settings, or left half-written
        shutil.rmtree(final)
    directory.mkdir(parents=True, exist_ok=True)
    done = resume_point(planned, directory)
    write_progress(directory, done)
    report = RecipeReport(recipe, str(final), identity, list(done), len(done))
    report.train_run = lineage.get("train_run")
    model = load_model(
        done[-1]["path"] if done else settings["base_model"], config.train.max_length
    )
    for stage in planned[len(done) :]:
        t0 = time.perf_counter()
        label = f"{recipe} {stage.stage.data}"
        loss = train_stage(
            model, stage.rows, stage.stage.loss, config, label, triplet_margin=triplet_margin
        )
        if stage.path.exists():
            shutil.rmtree(stage.path)
        model.save(str(stage.path))
        entry = {
            "data": stage.stage.data,
            "loss": stage.stage.loss,
            "examples": len(stage.rows),
            "mean_loss": loss,
            "seconds": time.perf_counter() - t0,
            "path": str(stage.path),
            "key": stage.key,
            **stage.details,
        }
        report.stages.append(entry)
        write_progress(directory, report.stages)
    report.seconds = time.perf_counter() - started
    _save_final(model, report, lineage, settings)
    return report
