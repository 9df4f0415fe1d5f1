"""``dissent run``: the whole pipeline as Prefect flows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import ConfigOption, load, out

__all__ = ["run_command"]


def run_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="ingest this dataset mapping first")
    ] = None,
    query_limit: Annotated[
        int | None, typer.Option("--query-limit", min=1, help="mine only the first N queries")
    ] = None,
) -> None:
    """Run the whole pipeline as Prefect flows (local API, no server to set up)."""
    from core.progress import progress_display
    from flows.common import quiet_local_api
    from flows.pipeline import outputs_lines, pipeline

    quiet_local_api(verbose=bool(ctx.find_root().params.get("verbose")))
    cfg = load(config)
    with progress_display(transient=True):
        result = pipeline(cfg, str(mapping) if mapping else None, None, query_limit)
    for line in outputs_lines(result):
        out.print(line)
