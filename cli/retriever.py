"""``dissent train`` and ``dissent evaluate``: retrievers on the curriculum and the baselines.

Thin wiring over :func:`retriever.train_recipes` and :func:`retriever.evaluate_models`: they
check every path and name before any work starts and say what they did in lines to print.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import ConfigOption, load, out
from core.errors import ConfigError

__all__ = ["evaluate_command", "train_command"]


def train_command(
    config: ConfigOption = None,
    recipes: Annotated[
        list[str] | None,
        typer.Option("--recipe", help="recipe to train (repeatable; default: train.recipes)"),
    ] = None,
    export_dir: Annotated[
        Path | None, typer.Option("--export", help="export folder (default: export.output_dir)")
    ] = None,
) -> None:
    """Train two-tower retrievers on the exported curriculum, and the baselines."""
    from core.progress import progress_display
    from retriever.training import train_recipes
    from store.db import open_store

    cfg = load(config)
    with progress_display(transient=True):
        report = train_recipes(
            open_store(cfg.store_url), cfg, recipes=recipes, export_dir=export_dir
        )
    for line in report.lines():
        out.print(line, markup=False, highlight=False)


def _models(items: list[str]) -> dict[str, str]:
    chosen: dict[str, str] = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--model {item!r}: expected NAME=PATH")
        chosen[name] = path
    return chosen


def evaluate_command(
    config: ConfigOption = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", help="NAME=PATH (repeatable; default: base + trained recipes)"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON path (an HTML page beside it)")
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="also test the models listed after NAME against it (repeatable; e.g. human)",
        ),
    ] = None,
) -> None:
    """Retrieve from the whole catalog for the held-out evaluation queries and score each model."""
    from core.progress import progress_display
    from retriever.evaluating import evaluate_models
    from retriever.report import summary_lines
    from store.db import open_store

    cfg = load(config)
    chosen = _models(models or []) or None
    command = "dissent evaluate " + shlex.join(sys.argv[2:])
    with progress_display(transient=True):
        evaluation = evaluate_models(
            open_store(cfg.store_url),
            cfg,
            chosen,
            against=tuple(against or ()),
            output=output,
            command=command,
        )
    for line in summary_lines(evaluation):
        out.print(line, markup=False, highlight=False)
