"""The ``build_curriculum`` and ``export`` flows: levels, stages, splits and augmentation into
the store, then Hugging Face datasets, Parquet and a dataset card on disk (and the Hub).

Thin wiring over :mod:`curriculum.build` and :mod:`curriculum.export`; a build with the same
inputs is reused, an export replaces the previous one only once it is complete.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task

from curriculum.build import build_curriculum as build
from curriculum.export import export_curriculum
from flows.common import flow_config, in_flow, model_retries, publish, store_of
from flows.config import PipelineConfig

__all__ = ["build_curriculum", "export"]


@task(name="build-curriculum")
def build_task(
    config: PipelineConfig, mining_run: int | None, cascade: str | None
) -> dict[str, Any]:
    report = build(store_of(config), config, mining_run=mining_run, cascade=cascade)
    return {**asdict(report), "lines": report.lines()}


@flow(name="build_curriculum")
def build_curriculum(
    config: str | PipelineConfig | None = None,
    mining_run: int | None = None,
    cascade: str | None = None,
) -> dict[str, Any]:
    """Build the curriculum of a mining run (default: the latest) graded by its cascade."""
    cfg = flow_config(config)
    with in_flow(cfg):
        report = build_task(cfg, mining_run, cascade)
    publish("curriculum-report", "# Curriculum\n\n```\n" + "\n".join(report["lines"]) + "\n```\n")
    return report


@task(name="export-datasets")
def export_task(
    config: PipelineConfig, curriculum_run: int | None, output_dir: str | None
) -> dict[str, Any]:
    report = export_curriculum(
        store_of(config),
        config,
        curriculum_run=curriculum_run,
        output_dir=Path(output_dir) if output_dir else None,
    )
    return asdict(report)


@task(name="push-to-hub")
def push_task(directory: str, repo: str) -> None:
    from curriculum.export import push_to_hub

    push_to_hub(Path(directory), repo)


@flow(name="export")
def export(
    config: str | PipelineConfig | None = None,
    curriculum_run: int | None = None,
    output_dir: str | None = None,
    push_to_hub: str | None = None,
) -> dict[str, Any]:
    """Export a curriculum run (default: the latest) as datasets with a dataset card."""
    cfg = flow_config(config)
    repo = push_to_hub or cfg.export.push_to_hub
    with in_flow(cfg):
        report = export_task(cfg, curriculum_run, output_dir)
        if repo:
            push_task.with_options(**model_retries(cfg))(report["output_dir"], repo)
            report["pushed_to"] = repo
    publish(
        "export-report",
        f"# Export of curriculum run {report['curriculum_run']}\n\n"
        f"Written to `{report['output_dir']}` in {report['seconds']:.1f} s "
        f"(dataset card: `{report['paths'].get('card')}`).\n\n"
        "| dataset | train | validation |\n|---|---:|---:|\n"
        + "\n".join(
            f"| {name} | {r['train']:,} | {r['validation']:,} |"
            for name, r in report["rows"].items()
        ),
    )
    return report
