"""Benchmark: mining's store step alone (classify, sample negatives, write) on SQLite and PostgreSQL.

The three channels retrieve once (on SQLite; with ``--lists PATH`` the lists are kept in that
``.npz`` and reused when it exists, so that a second run, or a run of older code, starts from
the same lists); then, for each
database, a fresh store gets the Home Depot catalog and the step that turns the lists into
ranked lists and candidates runs and is timed: the TF-IDF and random negatives, the
disagreement sets, the overlap statistics and the writes. It prints the seconds and the rows
written and writes ``bench/results/mining-store.json``.

    python -m bench.mining_store [--queries N] [--lists PATH] [--output PATH]

To measure older code on the same lists, run this file with that code first on the path:
``PYTHONPATH=<old checkout> python bench/mining_store.py --lists PATH --output OTHER``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))


def _retrieve(store_url: str, workdir: str, limit: int | None, lists: Path) -> None:
    from flows.config import load_config
    from ingest import ingest_dataset
    from ingest.mapping import load_mapping
    from miners.mine import MiningReport, _retrieve, queries_to_mine
    from store.catalog import load_products
    from store.db import open_store

    cfg = load_config(None, environ={"DISSENT_STORE__URL": store_url, "DISSENT_WORKDIR": workdir})
    engine = open_store(cfg.store_url)
    ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), DATA / "train.csv")
    queries, _ = queries_to_mine(engine, cfg, limit)
    report = MiningReport(0, False, 0, 0)
    texts = [q.text for q in queries]
    found = _retrieve(engine, cfg, load_products(engine), texts, report, None, {})
    arrays: dict[str, Any] = {"query_ids": np.array([q.id for q in queries])}
    for name, result in found.items():
        arrays[f"{name}_ids"], arrays[f"{name}_scores"] = result.ids, result.scores
    np.savez(lists, **arrays)
    print("retrieval: " + ", ".join(f"{n} {t}" for n, t in report.timings.items()))


def _store_step(url: str, lists: Path) -> dict[str, Any]:
    from flows.config import load_config
    from ingest import ingest_dataset
    from ingest.mapping import load_mapping
    from miners.base import SearchResult
    from miners.mine import MiningReport, _classify_and_write
    from store.catalog import load_products, load_queries
    from store.db import open_store
    from store.ledger import Flow, recorded_run
    from store.schema import Candidate

    cfg = load_config(None, environ={"DISSENT_STORE__URL": url})
    engine = open_store(url)
    ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), DATA / "train.csv")
    data = np.load(lists)
    by_id = {q.id: q for q in load_queries(engine)}
    queries = [by_id[int(i)] for i in data["query_ids"]]
    results = {}
    for name in cfg.mining.channels:
        result = SearchResult.empty(len(queries), data[f"{name}_ids"].shape[1])
        result.ids[:], result.scores[:] = data[f"{name}_ids"], data[f"{name}_scores"]
        results[str(name)] = result
    products = load_products(engine)
    with recorded_run(engine, Flow.MINE, {}, {}) as run:
        report = MiningReport(run.id, False, len(products), len(queries))
        started = time.perf_counter()
        written = _classify_and_write(
            engine, run.id, cfg.mining, products, queries, results, report
        )
        seconds = time.perf_counter() - started
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(Candidate)).scalar_one()
    engine.dispose()
    figures = {
        "seconds": round(seconds, 1),
        "steps": {n: {k: round(v, 1) for k, v in t.items()} for n, t in report.timings.items()},
        "candidates": int(rows),
        "retrievals": int(written),
    }
    print(f"{make_url(url).get_backend_name():10s} {figures}")
    return figures


def _on_postgres(server: str, lists: Path) -> dict[str, Any] | None:
    """The store step in a fresh database on ``server`` (dropped after); None without one."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"dissent_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
    except Exception as exc:  # a benchmark of an absent server is skipped, not failed
        print(f"skip postgresql: {exc.__class__.__name__}")
        return None
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        return _store_step(url, lists)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=None, help="first N queries only")
    parser.add_argument(
        "--lists",
        type=Path,
        default=None,
        help="keep the retrieved lists here (.npz) and reuse them if the file exists",
    )
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "DISSENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/mining-store.json")
    args = parser.parse_args()
    if not (DATA / "train.csv").exists():
        print(f"skip: {DATA / 'train.csv'} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    from bench.command import command_line, write_results

    result: dict[str, Any] = {
        "command": command_line("bench.mining_store"),
        "cores": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        lists = args.lists or Path(tmp) / "lists.npz"
        if not lists.exists():
            _retrieve(f"sqlite:///{tmp}/lists.db", tmp, args.queries, lists)
        result["sqlite"] = _store_step(f"sqlite:///{tmp}/store.db", lists)
        postgres = _on_postgres(args.postgres, lists)
        if postgres is not None:
            result["postgresql"] = postgres
    write_results(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
