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
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

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
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "DISSENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    csv = DATA / "train.csv"
    if not csv.exists():
        print(f"skip: {csv} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    print(f"Home Depot ingest benchmark: {csv} (3 sections x 74,067 rows)")
    with tempfile.TemporaryDirectory() as tmp:
        bench(f"sqlite:///{tmp}/bench.db", csv)
    admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    name = f"dissent_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
    except Exception as exc:  # a benchmark of an absent server is skipped, not failed
        print(f"skip postgresql: {exc.__class__.__name__}")
        return 0
    try:
        bench(make_url(args.postgres).set(database=name).render_as_string(hide_password=False), csv)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
