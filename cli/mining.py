"""``dissent mine``: retrieve with every channel and sort the disagreement into sets."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import ConfigOption, load, out

__all__ = ["mine_command"]


def mine_command(
    config: ConfigOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="mine only the first N queries (by id)")
    ] = None,
) -> None:
    """Retrieve with every channel, store ranks, and sort the disagreement into sets."""
    from core.paths import Workdir
    from core.progress import progress_display
    from miners.mine import mine
    from store.db import open_store

    cfg = load(config)
    engine = open_store(cfg.store_url)
    with progress_display(transient=True):
        report = mine(engine, cfg, query_limit=limit, index_dir=Workdir(cfg.workdir).indexes)
    for line in report.lines():
        out.print(line)
