"""Benchmark: mining's store step alone (classify, sample negatives, write) on SQLite and PostgreSQL.

The three channels retrieve once (on SQLite; with ``--lists PATH`` the lists are kept in that
``.npz`` and reused when it exists, so that a second run, or a run of older code, starts from
the same lists); then, for each
database, a fresh store gets the Home Depot catalog and the step that turns the lists into
ranked lists and candidates runs and is timed: the TF-IDF and random negatives, the
disagreement sets, the overlap statistics and the writes. It prints the seconds and the rows
written and writes ``bench/results/mining-store.json``.

    python -m bench.mining_store [--queries N] [--lists PATH] [--output PATH]

To measure older code on the same lists: ``--code <older checkout> --lists PATH --output
OTHER`` (the benchmark stays this one; the stages are imported from that checkout).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.command import command_line, write_results
from bench.scratch_db import DEFAULT_POSTGRES, scratch_postgres

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=None, help="first N queries only")
    parser.add_argument(
        "--lists",
        type=Path,
        default=None,
        help="keep the retrieved lists here (.npz) and reuse them if the file exists",
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument(
        "--code",
        type=Path,
        default=None,
        help="run the stages' code of this checkout (an older commit) instead of this one's",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/mining-store.json")
    args = parser.parse_args()
    if not (DATA / "train.csv").exists():
        print(f"skip: {DATA / 'train.csv'} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    if args.code is not None:  # the stages are imported lazily, after this
        sys.path.insert(0, str(args.code.resolve()))

    result: dict[str, Any] = {
        "command": command_line("bench.mining_store"),
        "cores": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        lists = args.lists or Path(tmp) / "lists.npz"
        if not lists.exists():
            _retrieve(f"sqlite:///{tmp}/lists.db", tmp, args.queries, lists)
        result["sqlite"] = _store_step(f"sqlite:///{tmp}/store.db", lists)
        with scratch_postgres(args.postgres) as url:
            if url is not None:
                result["postgresql"] = _store_step(url, lists)
    write_results(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
