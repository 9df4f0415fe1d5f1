"""Benchmark: ingest the Home Depot data (74,067 rows) into SQLite and PostgreSQL.

Prints wall time, rows per second and peak memory for a first ingest and a re-ingest
(which must change nothing). Run with ``make bench``; skips a store that is not reachable.

    python -m bench.ingest [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.scratch_db import DEFAULT_POSTGRES, scratch_postgres
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench(url: str, csv: Path) -> None:
    mapping = load_mapping(ROOT / "configs/homedepot.yaml")
    engine = open_store(url)
    for attempt in ("first ingest", "re-ingest"):
        started = time.perf_counter()
        reports = ingest_dataset(engine, mapping, csv)
        seconds = time.perf_counter() - started
        rows = sum(r.rows for r in reports)
        written = sum(r.inserted + r.updated for r in reports)
        print(
            f"{make_url(url).get_backend_name():10s} {attempt:12s} {seconds:6.2f} s  "
            f"{rows / seconds:9,.0f} rows/s  written {written:7,}  peak {peak_mib():6.0f} MiB"
        )
    engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    csv = DATA / "train.csv"
    if not csv.exists():
        print(f"skip: {csv} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    print(f"Home Depot ingest benchmark: {csv} (3 sections x 74,067 rows)")
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", csv)
    with scratch_postgres(args.postgres) as url:
        if url is not None:
            bench(url, csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
