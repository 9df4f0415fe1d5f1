"""``dissent ingest catalog|queries|labels|all``: load a dataset through its mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import ConfigOption, FileArgument, MappingOption, load, out

__all__ = ["ingest_app"]

ingest_app = typer.Typer(help="Load a catalog, queries or human labels.", no_args_is_help=True)


StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="refuse control characters and overlong brands or types in free text instead of "
        "repairing them (the mapping's strict_text)",
    ),
]


def _ingest(
    kind: str, file: Path | None, mapping_path: Path, config: Path | None, strict: bool
) -> None:
    import ingest
    from core.progress import progress_display
    from ingest.mapping import load_mapping
    from store.db import display_url, open_store

    cfg = load(config)
    mapping = load_mapping(mapping_path)
    if strict:
        mapping = mapping.model_copy(update={"strict_text": True})
    engine = open_store(cfg.store_url)
    with progress_display(transient=True):
        if kind == "all":
            reports = ingest.ingest_dataset(engine, mapping, file)
        else:
            reports = [getattr(ingest, f"ingest_{kind}")(engine, mapping, file)]
    for report in reports:
        out.print(report.summary())
        for key, value in report.extra.items():
            out.print(f"  {key}: {value}")
        for line in report.changes:
            out.print(f"  {line}")
    out.print(f"store: {display_url(cfg.store_url)}")


@ingest_app.command("catalog")
def ingest_catalog(
    mapping: MappingOption,
    file: FileArgument = None,
    config: ConfigOption = None,
    strict: StrictOption = False,
) -> None:
    """Load products; re-ingesting the same file changes nothing."""
    _ingest("catalog", file, mapping, config, strict)


@ingest_app.command("queries")
def ingest_queries(
    mapping: MappingOption,
    file: FileArgument = None,
    config: ConfigOption = None,
    strict: StrictOption = False,
) -> None:
    """Load queries with their frequency segment (head, torso, tail)."""
    _ingest("queries", file, mapping, config, strict)


@ingest_app.command("labels")
def ingest_labels(
    mapping: MappingOption,
    file: FileArgument = None,
    config: ConfigOption = None,
    strict: StrictOption = False,
) -> None:
    """Load human labels, mapped onto the internal 0-3 scale."""
    _ingest("labels", file, mapping, config, strict)


@ingest_app.command("all")
def ingest_all(
    mapping: MappingOption,
    file: FileArgument = None,
    config: ConfigOption = None,
    strict: StrictOption = False,
) -> None:
    """Load every section of a mapping (catalog, queries, labels) in one transaction."""
    _ingest("all", file, mapping, config, strict)
