"""``dissent config show``, ``dissent prompts show`` and ``dissent status``: what is set up."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli.common import ConfigOption, load, out

__all__ = ["config_app", "prompts_app", "status"]

config_app = typer.Typer(help="Show the effective pipeline configuration.", no_args_is_help=True)
prompts_app = typer.Typer(help="Show the versioned grading prompt.", no_args_is_help=True)


@config_app.command("show")
def config_show(
    config: ConfigOption = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="add each key's description as a comment")
    ] = False,
) -> None:
    """Print the effective configuration (defaults, file, DISSENT_* overrides) as YAML."""
    from flows.config import dump_config, explain_config

    cfg = load(config)
    out.print(explain_config(cfg) if explain else dump_config(cfg), end="", markup=False)


@prompts_app.command("show")
def prompts_show(
    name: Annotated[str, typer.Option(help="template name (prompts/<name>.j2)")] = "grading",
    query: Annotated[str, typer.Option(help="the query to render")] = "dewalt 20v drill",
    title: Annotated[str, typer.Option(help="the product title to render")] = (
        "DEWALT 20V MAX Cordless 1/2 in. Drill/Driver Kit"
    ),
) -> None:
    """Render a prompt for one (query, product) pair and print its version hash."""
    from prompts import load_prompt

    prompt = load_prompt(name)
    product = {"title": title, "brand": "DEWALT", "product_type": "Cordless Drill"}
    out.print(f"prompt {prompt.name} version {prompt.version}")
    for message in prompt.render(query, product):
        out.print(f"--- {message['role']} ---")
        out.print(message["content"])


def status(config: ConfigOption = None) -> None:
    """Show row counts per table and the latest runs in the store.

    Runs whose process died (killed, machine lost) are marked failed as interrupted first.
    """
    from store.db import display_url, open_store
    from store.ledger import latest_runs, mark_interrupted, table_counts

    cfg = load(config)
    engine = open_store(cfg.store_url)
    mark_interrupted(engine)
    table = Table(title=f"store {display_url(cfg.store_url)}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in table_counts(engine).items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    runs = Table(title="latest runs")
    for col in ("id", "flow", "status", "started", "counts or error"):
        runs.add_column(col)
    for run in latest_runs(engine, limit=10):
        runs.add_row(
            str(run.id),
            run.flow,
            run.status,
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            Text(str(run.counts) if run.status != "failed" else (run.error or "")[:120]),
        )
    out.print(runs)
