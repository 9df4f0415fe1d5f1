"""The ``train`` and ``evaluate`` flows: retrievers trained on the export, scored on the
held-out evaluation queries.

Thin wiring over :func:`retriever.train_recipes` and :func:`retriever.evaluate_models`, which
record the ``train`` and ``evaluate`` runs (with the export and models they read) and resume:
a model already trained on the same export, labels and settings is handed back, not trained
again.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task

from flows.common import flow_config, in_flow, publish, store_of
from flows.config import PipelineConfig
from retriever.evaluating import evaluate_models
from retriever.report import summary_lines
from retriever.training import train_recipes

__all__ = ["evaluate", "train"]


@task(name="train-retrievers")
def train_task(
    config: PipelineConfig, recipes: list[str] | None, export_dir: str | None
) -> dict[str, Any]:
    report = train_recipes(
        store_of(config),
        config,
        recipes=recipes,
        export_dir=Path(export_dir) if export_dir else None,
    )
    return {**asdict(report), "lines": report.lines()}


@flow(name="train")
def train(
    config: str | PipelineConfig | None = None,
    recipes: list[str] | None = None,
    export_dir: str | None = None,
) -> dict[str, Any]:
    """Train retrievers on an export and publish what each recipe did.

    Args:
        config: the pipeline config (object or YAML path; default ``$DISSENT_CONFIG``).
        recipes: the recipes to train (default ``train.recipes``).
        export_dir: the export folder (default the config's ``export.output_dir``).
    """
    cfg = flow_config(config)
    with in_flow(cfg):
        report = train_task(cfg, recipes, export_dir)
    publish(
        "train-report",
        f"# Train run {report['run_id']}\n\n```\n" + "\n".join(report["lines"]) + "\n```\n",
    )
    return report


@task(name="evaluate-retrievers")
def evaluate_task(
    config: PipelineConfig,
    models: dict[str, str] | None,
    against: list[str],
    output: str | None,
) -> dict[str, Any]:
    evaluation = evaluate_models(
        store_of(config),
        config,
        models,
        against=against,
        output=Path(output) if output else None,
        command="flow evaluate",
    )
    return {**asdict(evaluation), "lines": summary_lines(evaluation)}


@flow(name="evaluate")
def evaluate(
    config: str | PipelineConfig | None = None,
    models: dict[str, str] | None = None,
    against: list[str] | None = None,
    output: str | None = None,
) -> dict[str, Any]:
    """Score models on the held-out evaluation queries and publish the figures.

    Args:
        config: the pipeline config (object or YAML path; default ``$DISSENT_CONFIG``).
        models: name -> model folder (default the base model and every trained recipe).
        against: models the later ones are also tested against.
        output: the report's JSON path (default ``workdir/reports/evaluation.json``).
    """
    cfg = flow_config(config)
    with in_flow(cfg):
        result = evaluate_task(cfg, models, against or [], output)
    publish(
        "evaluate-report",
        f"# Evaluate run {result['run_id']}\n\n```\n" + "\n".join(result["lines"]) + "\n```\n",
    )
    return result
