"""``dissent train``: check every input, plan every recipe, record a ``train`` run, train.

:func:`train_recipes` is the entry point the CLI, the Prefect flow and the benchmarks call. In
order, before any model loads:

1. the recipe names (from ``table``; default the library's :data:`retriever.recipes.RECIPES`),
   the base model folder, the export folder when a recipe reads it or one is named
   (:func:`retriever.source.open_export`) and a writable output folder are checked;
2. every recipe is planned (:func:`retriever.plan.plan_recipe`): a stage with no examples is
   refused here, with nothing recorded and nothing loaded;
3. a ``train`` run is recorded with its lineage: the export's ledger run and curriculum run
   (typed columns), the export's content hash and the settings (parameters), and a
   fingerprint of every planned model's identity;

then each recipe trains (:func:`retriever.trainer.train_recipe`) and the run's counts name
every model: its folder, identity and the run that trained it (an earlier one when the model
was already there).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from core.hashing import content_hash
from retriever.losses.registry import TRIPLET_MARGIN
from retriever.models import model_refs
from retriever.paths import (
    base_model,
    check_model_folder,
    check_writable_folder,
    export_folder,
    models_folder,
)
from retriever.plan import PlannedStage, plan_recipe
from retriever.recipes import RECIPES, RecipeTable, Stage, check_recipes, recipe_stages
from retriever.rows import NUM_NEGATIVES, HumanLabels, RowSource, datasets_read
from retriever.source import Export, open_export
from retriever.trainer import RecipeReport, train_recipe
from store.ledger import Flow, export_run_of, recorded_run
from store.schema import Run

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings

__all__ = ["TrainReport", "train_recipes"]

log = logging.getLogger(__name__)


@dataclass
class TrainReport:
    """What a ``train`` run did: its ledger id, the export it read and each recipe's model."""

    run_id: int
    export: str | None
    export_hash: str | None
    models: list[RecipeReport] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """One line per model, then the run and its export, as ``dissent train`` prints them."""
        out = []
        for m in self.models:
            stages = ", ".join(
                f"{s['data']} {s['examples']:,} ({s['seconds']:.0f} s)" for s in m.stages
            )
            note = f"; trained by run {m.train_run}" if m.train_run != self.run_id else ""
            out.append(f"{m.recipe}: {m.model_dir} [{stages}] in {m.seconds:.0f} s{note}")
        source = (
            f"export {self.export} ({self.export_hash[:12]})" if self.export_hash else "no export"
        )
        out.append(f"train run {self.run_id}: {source}")
        return out


def _export(
    config: RetrieverSettings, named: Path | None, stages: Sequence[Stage]
) -> Export | None:
    """The checked export, when a stage reads it or the caller named one."""
    needs = datasets_read(stages)
    if named is None and not needs:
        return None
    return open_export(named or export_folder(config), needs=needs)


def _settings(config: RetrieverSettings, base: str, triplet_margin: float) -> dict[str, Any]:
    """What decides training besides the rows (hashed into every plan's first key)."""
    train = config.train
    return {
        "base_model": base,
        "base_identity": model_refs({"base": base})[0].identity,
        "epochs": train.epochs,
        "batch_size": train.batch_size,
        "learning_rate": train.learning_rate,
        "max_length": train.max_length,
        "seed": train.seed,
        "precision": config.precision,
        "triplet_margin": triplet_margin,
    }


def _lineage(engine: Engine, export: Export | None) -> tuple[Run | None, dict[str, Any]]:
    """The export's ledger run (None when it came from another store) and what the run, the
    model cards and ``dissent-train.json`` say the models were trained on."""
    exported = export_run_of(engine, str(export.path), export.curriculum_run) if export else None
    return exported, {
        "export": str(export.path) if export else None,
        "export_hash": export.content_hash if export else None,
        "export_run": exported.id if exported else None,
        "curriculum_run": export.curriculum_run if export else None,
    }


def _made(report: RecipeReport) -> dict[str, Any]:
    """What the train run records of one model."""
    return {
        "path": report.model_dir,
        "identity": report.identity,
        "train_run": report.train_run,
        "resumed_from": report.resumed_from,
        "examples": [s["examples"] for s in report.stages],
    }


def train_recipes(
    engine: Engine,
    config: RetrieverSettings,
    *,
    recipes: Sequence[str] | None = None,
    export_dir: Path | None = None,
    output_dir: Path | None = None,
    table: RecipeTable = RECIPES,
    num_negatives: int = NUM_NEGATIVES,
    triplet_margin: float = TRIPLET_MARGIN,
    human: HumanLabels = HumanLabels(),
) -> TrainReport:
    """Train each recipe and save its model to ``<output>/<recipe>/final``.

    Args:
        engine: the store (human labels, products, the ledger).
        config: the pipeline config (``train``, ``precision``, ``curriculum``, ``splits``).
        recipes: names in ``table`` (default ``train.recipes``).
        export_dir: the curriculum export (default ``export.output_dir`` or
            ``workdir/export``); read only when a recipe needs it or it is given.
        output_dir: where models go (default ``train.output_dir`` or ``workdir/models``).
        table: recipe name -> stages; a benchmark passes its own (``bench/ablations.py``).
        num_negatives: mined negatives per human pair in ``human_hardneg`` stages.
        triplet_margin: the ``triplet`` loss's margin on cosine distance.
        human: which human labels ``human`` stages read (default: the tier-training split's,
            every source); a stage's key hashes its rows, so other labels train another model.

    Returns:
        The run's id, the export read and a :class:`~retriever.trainer.RecipeReport` per recipe.

    Raises:
        DissentError: an unknown recipe, a missing base model, an output folder that cannot be
            written, a missing or incomplete export, or a stage with no examples — each before
            any model is loaded or any run recorded.
    """
    started = time.perf_counter()
    chosen = check_recipes(recipes or config.train.recipes, table)
    stages = {name: recipe_stages(name, table) for name in chosen}
    base = str(check_model_folder(Path(base_model(config)), "train.base_model"))
    export = _export(config, export_dir, [s for each in stages.values() for s in each])
    output = check_writable_folder(output_dir or models_folder(config), "trained models")
    source = RowSource(engine, config, export, human)
    settings = _settings(config, base, triplet_margin)
    plans: dict[str, list[PlannedStage]] = {
        name: plan_recipe(name, stages[name], source, output / name, settings, num_negatives)
        for name in chosen
    }
    exported, lineage = _lineage(engine, export)
    parameters = {
        "recipes": chosen,
        "output_dir": str(output),
        **lineage,
        "settings": settings,
        "num_negatives": num_negatives,
    }
    with recorded_run(
        engine,
        Flow.TRAIN,
        parameters,
        fingerprint=content_hash({name: plan[-1].key for name, plan in plans.items()}),
        export_run_id=exported.id if exported else None,
        curriculum_run_id=exported.curriculum_run_id if exported else None,
    ) as run:
        made = {**lineage, "train_run": run.id}
        reports = [
            train_recipe(name, plans[name], config, settings, made, triplet_margin=triplet_margin)
            for name in chosen
        ]
        run.counts = {"models": {r.recipe: _made(r) for r in reports}}
    report = TrainReport(run.id, lineage["export"], lineage["export_hash"], reports)
    report.seconds = time.perf_counter() - started
    log.info("train run %d: %d model(s) in %.0f s", run.id, len(reports), report.seconds)
    return report
