"""What training a recipe will do, decided before any model loads, and what of it is done.

:func:`plan_recipe` builds every stage's rows (so a stage with nothing to train is refused
before a model is loaded) and gives each stage a *key*: a hash of the key before it (for the
first stage, the base model and the training settings), the stage's data name and loss, and
its rows. A stage's key therefore says everything that decides the model it ends with — the
export's content and the human labels through the rows, the recipe through the chain, the
settings through the first key — and a model's identity is its last stage's key.

A recipe trains in ``<output>/<recipe>``: ``stage-<n>-<data>/`` per finished stage, a
``progress.json`` listing them with their keys, and ``final/``. :func:`resume_point` keeps only
the leading stages whose recorded key is the planned one: a folder trained on another export,
other labels or other settings is retrained, never handed back. A stage another recipe under
the same output already trained with the same key (``human+staged`` after ``human``, say) is
copied instead of trained again.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DissentError
from core.hashing import content_hash
from retriever.losses.base import Row
from retriever.recipes import Stage
from retriever.rows import RowSource, stage_rows

__all__ = [
    "PROGRESS",
    "TRAIN_JSON",
    "PlannedStage",
    "finished_model",
    "plan_recipe",
    "read_progress",
    "resume_point",
    "write_progress",
]

log = logging.getLogger(__name__)

PROGRESS = "progress.json"
TRAIN_JSON = "dissent-train.json"
"""Beside a final model: its identity, recipe, stages, train run and export."""


@dataclass(frozen=True)
class PlannedStage:
    """One stage as it will train: its number (from 1), rows, key and folder, and what its
    record should add (``num_negatives`` for ``human_hardneg``)."""

    number: int
    stage: Stage
    rows: list[Row] = field(repr=False)
    key: str
    path: Path
    details: dict[str, Any] = field(default_factory=dict)


def plan_recipe(
    recipe: str,
    stages: Sequence[Stage],
    source: RowSource,
    directory: Path,
    settings: Mapping[str, Any],
    num_negatives: int,
) -> list[PlannedStage]:
    """Every stage of ``recipe`` with its rows (seed ``train.seed + n`` for stage n) and key.

    Args:
        recipe: the recipe's name (for messages).
        stages: its stages, in order.
        source: where rows come from.
        directory: the recipe's folder (``<output>/<recipe>``).
        settings: what decides training besides the rows (base model, epochs, batch size,
            learning rate, length, seed, precision, loss parameters): hashed into the first key.
        num_negatives: mined negatives per pair for ``human_hardneg`` stages.

    Returns:
        The planned stages, in order; the last one's key is the model's identity.

    Raises:
        DissentError: the recipe has no stages, or a stage has no training examples.
    """
    if not stages:
        raise DissentError(f"recipe {recipe} has no stages: give it at least one")
    key = content_hash({"start": dict(settings)})
    seed = int(source.config.train.seed)
    planned = []
    for number, stage in enumerate(stages, start=1):
        rows = stage_rows(stage, source, seed + number, num_negatives=num_negatives)
        key = content_hash([key, stage.data, stage.loss, content_hash(rows)])
        path = directory / f"stage-{number}-{stage.data}"
        details = {"num_negatives": num_negatives} if stage.data == "human_hardneg" else {}
        planned.append(PlannedStage(number, stage, rows, key, path, details))
    log.info("%s: %d stage(s) planned", recipe, len(planned))
    return planned


def read_progress(directory: Path) -> list[dict[str, Any]]:
    """The finished stages ``progress.json`` lists (none when it is missing or unreadable)."""
    try:
        done = json.loads((directory / PROGRESS).read_text()).get("done", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [entry for entry in done if isinstance(entry, dict)]


def write_progress(directory: Path, done: Sequence[Mapping[str, Any]]) -> None:
    """Record the finished stages (written after each stage is saved)."""
    (directory / PROGRESS).write_text(json.dumps({"done": list(done)}, indent=2))


def _trained_elsewhere(output: Path, key: str, exclude: Path) -> dict[str, Any] | None:
    """A stage with ``key`` that another recipe under ``output`` finished, if any."""
    for progress in sorted(output.glob(f"*/{PROGRESS}")):
        if progress.parent == exclude:
            continue
        for entry in read_progress(progress.parent):
            if entry.get("key") == key and Path(str(entry.get("path"))).is_dir():
                return entry
    return None


def resume_point(planned: Sequence[PlannedStage], directory: Path) -> list[dict[str, Any]]:
    """The leading stages already trained with the planned keys, as progress entries.

    A stage counts when this recipe's ``progress.json`` lists it with the same key and its
    folder exists, or when another recipe in the same output folder trained it (its folder is
    copied here). The first stage that matches neither ends the resumable prefix.
    """
    own = {entry.get("key"): entry for entry in read_progress(directory)}
    done: list[dict[str, Any]] = []
    for stage in planned:
        entry = own.get(stage.key)
        if entry is not None and Path(str(entry.get("path"))) == stage.path and stage.path.is_dir():
            done.append(entry)
            continue
        found = _trained_elsewhere(directory.parent, stage.key, directory)
        if found is None:
            break
        if stage.path.exists():
            shutil.rmtree(stage.path)
        shutil.copytree(found["path"], stage.path)
        log.info("stage %d: reusing %s (the same data and settings)", stage.number, found["path"])
        done.append({**found, "path": str(stage.path), "copied_from": found["path"]})
    return done


def finished_model(final: Path, identity: str) -> dict[str, Any] | None:
    """What ``final/dissent-train.json`` says, if the model there has ``identity``; else None."""
    try:
        meta = json.loads((final / TRAIN_JSON).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("identity") == identity else None
