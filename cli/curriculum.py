"""``dissent curriculum build`` and ``dissent export``: levels, stages and the datasets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import ConfigOption, RunOption, load, out

__all__ = ["curriculum_app", "export_command"]

curriculum_app = typer.Typer(
    help="Levels, stages, splits and typo augmentation from the graded candidates.",
    no_args_is_help=True,
)


@curriculum_app.command("build")
def curriculum_build_command(
    config: ConfigOption = None,
    run: RunOption = None,
    cascade: Annotated[
        str | None,
        typer.Option("--cascade", help="cascade id (default: the one that annotated the run)"),
    ] = None,
) -> None:
    """Place graded candidates at five levels, build the three stages, split and augment."""
    from curriculum.build import build_curriculum
    from store.db import open_store

    cfg = load(config)
    report = build_curriculum(open_store(cfg.store_url), cfg, mining_run=run, cascade=cascade)
    for line in report.lines():
        out.print(line)


def export_command(
    config: ConfigOption = None,
    run: Annotated[
        int | None, typer.Option("--run", help="curriculum run (default: the latest)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="default: export.output_dir")
    ] = None,
    push_to_hub: Annotated[
        str | None,
        typer.Option("--push-to-hub", help="also push to this Hugging Face dataset repo"),
    ] = None,
) -> None:
    """Write the curriculum as Hugging Face datasets, Parquet and a dataset card."""
    from curriculum.export import export_curriculum
    from store.db import open_store

    cfg = load(config)
    report = export_curriculum(
        open_store(cfg.store_url),
        cfg,
        curriculum_run=run,
        output_dir=output,
        hub_repo=push_to_hub or cfg.export.push_to_hub,
    )
    for line in report.lines():
        out.print(line)
