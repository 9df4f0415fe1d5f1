"""The ``ingest`` flow: load a dataset's catalog, queries and labels into the store.

Thin wiring over :func:`ingest.ingest_dataset`; all decisions live in the library.

Example:
    python -m flows.ingestion sample/mapping.yaml
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import flow, task

from flows.common import flow_config, in_flow, publish, quiet_local_api
from flows.config import PipelineConfig
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from store.db import display_url, open_store

__all__ = ["ingest"]


@task(name="ingest-dataset")
def ingest_task(store_url: str, mapping_path: str, file: str | None) -> list[dict[str, Any]]:
    engine = open_store(store_url)
    reports = ingest_dataset(engine, load_mapping(Path(mapping_path)), Path(file) if file else None)
    engine.dispose()
    return [asdict(r) for r in reports]


@flow(name="ingest")
def ingest(
    mapping: str, file: str | None = None, config: str | PipelineConfig | None = None
) -> list[dict[str, Any]]:
    """Ingest every section of ``mapping`` (optionally all from one ``file``)."""
    cfg = flow_config(config)
    with in_flow(cfg):
        reports = ingest_task(cfg.store_url, mapping, file)
    rows = "\n".join(
        f"| {r['kind']} | {r['path']} | {r['rows']} | {r['inserted']} | {r['updated']} | "
        f"{r['unchanged']} | {r['seconds']:.1f} |"
        for r in reports
    )
    repaired = [f"- {r['kind']}: {line}" for r in reports for line in r.get("changes", [])]
    publish(
        "ingest-report",
        f"# Ingest into `{display_url(cfg.store_url)}`\n\n"
        "| kind | file | rows | new | updated | unchanged | seconds |\n"
        "|---|---|---:|---:|---:|---:|---:|\n"
        + rows
        + ("\n\nRepaired in the text:\n\n" + "\n".join(repaired) if repaired else ""),
    )
    return reports


if __name__ == "__main__":
    quiet_local_api()
    ingest(*sys.argv[1:])
