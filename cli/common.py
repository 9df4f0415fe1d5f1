"""What every command shares: the two consoles, the common options, loading the config.

Everything printed holds user text (paths, titles, labels): it is never read as rich markup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flows.config import PipelineConfig, load_config

__all__ = [
    "ConfigOption",
    "FileArgument",
    "MappingOption",
    "RunOption",
    "err",
    "load",
    "out",
]

err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)
out = Console(soft_wrap=True, markup=False, highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="pipeline config YAML (default: $DISSENT_CONFIG or built-in)"
    ),
]
MappingOption = Annotated[
    Path, typer.Option("--mapping", "-m", help="dataset mapping YAML (see configs/)")
]
FileArgument = Annotated[
    Path | None, typer.Argument(help="input file (CSV, JSONL or Parquet); default: the mapping's")
]
RunOption = Annotated[int | None, typer.Option("--run", help="mining run (default: the latest)")]


def load(path: Path | None) -> PipelineConfig:
    """The effective pipeline configuration (defaults, ``path``, ``DISSENT_*`` overrides)."""
    return load_config(path)
