"""The main job on the embedded defaults: ``make demo`` / ``python -m flows.demo``.

Today it runs what exists: the ``ingest`` flow over the shipped hand-made sample into the
default SQLite store, mining with the three channels (``configs/sample.yaml``: the default
depths scaled to a 296-product catalog), then prints what the store holds. Annotation and the
curriculum join it as their flows land.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flows.ingest import ingest
from miners.mine import mine
from store.config import load_config
from store.db import open_store
from store.ledger import table_counts

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_MAPPING = ROOT / "sample" / "mapping.yaml"
SAMPLE_CONFIG = ROOT / "configs" / "sample.yaml"


def main() -> None:
    console = Console()
    cfg = load_config(SAMPLE_CONFIG)
    started = time.perf_counter()
    reports = ingest(str(SAMPLE_MAPPING), config=str(SAMPLE_CONFIG))
    for r in reports:
        console.print(
            f"{r['kind']}: {r['rows']} rows -> {r['inserted']} new, {r['updated']} updated, "
            f"{r['unchanged']} unchanged"
        )
    report = mine(open_store(cfg.store_url), cfg, index_dir=cfg.workdir / "indexes")
    for line in report.lines():
        console.print(line, markup=False, highlight=False)
    table = Table(title=f"store {cfg.store_url}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in table_counts(open_store(cfg.store_url)).items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"demo finished in {time.perf_counter() - started:.1f} s; store: {cfg.store_url}")


if __name__ == "__main__":
    main()
