"""Benchmark: three-channel mining against sentence-transformers' ``mine_hard_negatives``.

In one run, on the Home Depot catalog (54,667 products) and queries (11,795):

1. our mining (bm25 + dense + catalog, top-500 each, disagreement sets, negatives, written to a
   fresh SQLite store, no embedding cache) — wall time per step and in total, process peak;
2. ``mine_hard_negatives`` (dense only, faiss, top-100, 5 negatives) over the positive pairs
   (grade >= 2, i.e. rater mean >= 2.5) with the same packaged model and batch size, in a
   child process of its own (so that its peak memory is its own);
3. what each channel finds: Recall@100 of the human-relevant products (grade >= 2) of the
   mined queries, and the share of those found by that channel alone (read back from the
   run's ranked lists);
4. the catalog channel's ``title_search`` modes (always / unrecognised / never / trigrams),
   each searched over the same queries: Jaccard@100 with BM25 and Recall@100;
5. bm25s against rank_bm25 in queries per second on the same catalog;

and prints the wall-time ratio ours/theirs (target <= 1.0), the bm25s speed-up (target >= 100x)
and peak memory. Writes ``bench/results/mining-homedepot.json``.

    python -m bench.mining [--queries N] [--output PATH]
    python -m bench.mining --catalog-modes   # step 4 alone, merged into the existing file

``--catalog-modes`` ingests the catalog, runs BM25 and the catalog channel's modes over the
queries a mining run would mine (evaluation queries held out), and replaces only the
``catalog_modes`` key of the results file, with its own ``catalog_modes_command`` and
``catalog_modes_cores``: the other figures keep the run that measured them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from sqlalchemy import Engine, select

from bench.command import command_line, write_results
from flows.config import load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.bm25 import Bm25Channel
from miners.catalog import CatalogChannel
from miners.mine import mine
from store.catalog import load_products, load_queries
from store.db import open_store
from store.ranked import read_lists
from store.schema import HumanLabel, Product, Query

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))
RESULTS = ROOT / "bench" / "results"
RECALL_K = 100


def peak_mib() -> float:
    """This process's peak resident memory since it started (or since exec: ``VmHWM``).

    ``ru_maxrss`` would do for the parent, but a child started by fork + exec inherits the
    parent's figure, so both read ``VmHWM`` where Linux has it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def theirs(path: Path) -> int:
    """Child process: ``mine_hard_negatives`` on the pairs and corpus in ``path`` (JSON)."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from core.models import default_model_path

    job = json.loads(path.read_text())
    dataset = Dataset.from_dict(
        {"query": [q for q, _ in job["pairs"]], "positive": [p for _, p in job["pairs"]]}
    )
    started = time.perf_counter()
    model = SentenceTransformer(default_model_path(), device="cpu")
    mined = mine_hard_negatives(
        dataset,
        model,
        corpus=job["corpus"],
        range_max=100,
        num_negatives=5,
        use_faiss=True,
        batch_size=job["batch_size"],
        verbose=False,
    )
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "triplets": len(mined), "peak_mib": peak_mib()}))
    return 0


def relevant_products(engine: Engine, query_ids: set[int]) -> dict[int, set[int]]:
    """Each mined query's human-relevant products (grade >= 2)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(HumanLabel.query_id, HumanLabel.product_id).where(HumanLabel.grade >= 2)
        ).all()
    out: dict[int, set[int]] = {}
    for qid, pid in rows:
        if qid in query_ids:
            out.setdefault(qid, set()).add(pid)
    return out


def channel_recall(
    tops: dict[str, dict[int, set[int]]], relevant: dict[int, set[int]]
) -> dict[str, dict[str, float]]:
    """Per channel: Recall@K of the relevant products (micro-averaged over pairs) and the
    share of the relevant products it found that no other channel found."""
    total = sum(len(r) for r in relevant.values())
    out = {}
    for name, top in tops.items():
        found = alone = 0
        for qid, rel in relevant.items():
            hits = rel & top.get(qid, set())
            others = set().union(*(t.get(qid, set()) for n, t in tops.items() if n != name))
            found += len(hits)
            alone += len(hits - others)
        out[name] = {
            f"recall@{RECALL_K}": round(found / total, 4),
            "found_by_no_other": round(alone / found, 4) if found else 0.0,
        }
    return out


def top_sets(lists: dict[tuple[int, str], Any], k: int) -> dict[str, dict[int, set[int]]]:
    """channel -> query -> the ids of its top ``k``."""
    out: dict[str, dict[int, set[int]]] = {}
    for (qid, channel), (ids, _) in lists.items():
        out.setdefault(channel, {})[qid] = set(ids[:k].tolist())
    return out


def catalog_modes(
    engine: Engine,
    cfg: Any,
    texts: list[str],
    qids: list[int],
    bm25: dict[int, set[int]],
    relevant: dict[int, set[int]],
) -> dict[str, dict[str, float]]:
    """The catalog channel in each ``title_search`` mode: Jaccard@K with BM25, Recall@K."""
    from miners.disagreement import OverlapCounter

    products = load_products(engine)
    out = {}
    for mode in ("always", "unrecognised", "never", "trigrams"):
        channel = CatalogChannel(cfg.mining.catalog, engine, title_search=mode)
        channel.index(products)
        t0 = time.perf_counter()
        result = channel.search(texts, RECALL_K)
        seconds = time.perf_counter() - t0
        top = {q: {int(p) for p in result.ids[i] if p >= 0} for i, q in enumerate(qids)}
        counter = OverlapCounter(["bm25", "catalog"], [RECALL_K])
        for q in qids:
            counter.add_ranked({"bm25": sorted(bm25.get(q, set())), "catalog": sorted(top[q])})
        recall = channel_recall({"bm25": bm25, "catalog": top}, relevant)["catalog"]
        out[mode] = {
            f"jaccard@{RECALL_K}_bm25": round(counter.stats().jaccard[RECALL_K]["bm25|catalog"], 4),
            f"recall@{RECALL_K}": recall[f"recall@{RECALL_K}"],
            "not_found_by_bm25": recall["found_by_no_other"],
            "queries_answered": round(float(np.mean([bool(top[q]) for q in qids])), 4),
            "search_seconds": round(seconds, 1),
        }
        print(f"catalog title_search={mode}: {out[mode]}")
    return out


def modes_only(csv: Path, output: Path) -> int:
    """Step 4 alone over the queries mining would mine; merged into ``output``."""
    from miners.mine import queries_to_mine

    with tempfile.TemporaryDirectory() as tmp:
        env = {"DISSENT_STORE__URL": f"sqlite:///{tmp}/bench.db", "DISSENT_WORKDIR": tmp}
        cfg = load_config(None, environ=env)
        engine = open_store(cfg.store_url)
        ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), csv)
        queries, _ = queries_to_mine(engine, cfg, None)
        texts, qids = [q.text for q in queries], [q.id for q in queries]
        bm25 = Bm25Channel(cfg.mining.bm25)
        bm25.index(load_products(engine))
        found = bm25.search(texts, RECALL_K)
        top = {q: {int(p) for p in found.ids[i] if p >= 0} for i, q in enumerate(qids)}
        modes = catalog_modes(engine, cfg, texts, qids, top, relevant_products(engine, set(qids)))
    result = json.loads(output.read_text()) if output.exists() else {}
    result.update(
        {
            "catalog_modes": modes,
            "catalog_modes_command": command_line("bench.mining"),
            "catalog_modes_cores": os.cpu_count(),
        }
    )
    write_results(output, result)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=None, help="first N queries only")
    parser.add_argument("--rank-bm25-queries", type=int, default=200)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="our dense encoder's precision (theirs runs sentence-transformers' float32 default)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "mining-homedepot.json")
    parser.add_argument(
        "--catalog-modes", action="store_true", help="re-measure the catalog modes (step 4) only"
    )
    parser.add_argument("--theirs", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.theirs:
        return theirs(args.theirs)
    csv = DATA / "train.csv"
    if not csv.exists():
        print(f"skip: {csv} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    logging.basicConfig(level=logging.WARNING)
    if args.catalog_modes:
        return modes_only(csv, args.output)
    result: dict[str, Any] = {
        "command": command_line("bench.mining"),
        "cores": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "DISSENT_STORE__URL": f"sqlite:///{tmp}/bench.db",
            "DISSENT_WORKDIR": f"{tmp}/work",
            "DISSENT_PRECISION": args.precision,
        }
        cfg = load_config(None, environ=env)
        engine = open_store(cfg.store_url)
        ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), csv)

        # 1. ours
        started = time.perf_counter()
        report = mine(engine, cfg, query_limit=args.queries)
        ours = time.perf_counter() - started
        ours_peak = peak_mib()
        print("\n".join(report.lines()))
        from core.encoder import Encoder

        precision = Encoder(precision=args.precision).precision
        compute = sum(v for t in report.timings.values() for k, v in t.items() if k != "write")
        print(f"our dense precision: {precision}; compute without store writes: {compute:.1f} s")

        # 2. theirs, on the same catalog and the positive pairs of the same queries
        with engine.connect() as conn:
            mined_ids = {q for q, _ in read_lists(conn, report.run_id)}
            labelled = conn.execute(
                select(HumanLabel.query_id, Query.text, Product.title)
                .join(Query, Query.id == HumanLabel.query_id)
                .join(Product, Product.id == HumanLabel.product_id)
                .where(HumanLabel.grade >= 2)
            ).all()
        pairs = [(q, p) for qid, q, p in labelled if qid in mined_ids]
        corpus = [p.title for p in load_products(engine)]
        job = Path(tmp) / "theirs.json"
        job.write_text(
            json.dumps(
                {"pairs": pairs, "corpus": corpus, "batch_size": cfg.mining.dense.batch_size}
            )
        )
        child = subprocess.run(
            [sys.executable, "-m", "bench.mining", "--theirs", str(job)],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if child.returncode:
            print(child.stderr[-3000:], file=sys.stderr)
            child.check_returncode()
        them = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"mine_hard_negatives: {len(pairs):,} positive pairs over "
            f"{len({q for q, _ in pairs}):,} queries, {len(corpus):,} products -> "
            f"{them['triplets']:,} triplets in {them['seconds']:.1f} s, peak {them['peak_mib']:,.0f} MiB"
        )
        ratio = ours / them["seconds"]
        print(
            f"wall time ours/theirs: {ours:.1f} s / {them['seconds']:.1f} s = {ratio:.2f} "
            f"(target <= 1.0; ours: 3 channels x top-{cfg.mining.top_k}, sets, negatives, "
            f"store writes; peak {ours_peak:,.0f} MiB); without our store writes: "
            f"{compute / them['seconds']:.2f}"
        )
        result.update(
            {
                "products": report.products,
                "queries": report.queries,
                "top_k": cfg.mining.top_k,
                "dense_precision": precision,
                "ours": {
                    "seconds": round(ours, 1),
                    "peak_mib": round(ours_peak),
                    "steps": {
                        n: {k: round(v, 1) for k, v in t.items()} for n, t in report.timings.items()
                    },
                    "retrievals_written": report.counts.get("retrievals_written"),
                    "candidates": {
                        k: v for k, v in report.counts.items() if k != "retrievals_written"
                    },
                },
                "theirs": {
                    "seconds": round(them["seconds"], 1),
                    "peak_mib": round(them["peak_mib"]),
                    "positive_pairs": len(pairs),
                    "triplets": them["triplets"],
                },
                "ratio": round(ratio, 3),
                "ratio_without_writes": round(compute / them["seconds"], 3),
                "overlap": report.overlap,
            }
        )

        # 3. what each channel finds
        with engine.connect() as conn:
            tops = top_sets(read_lists(conn, report.run_id), RECALL_K)
        relevant = relevant_products(engine, mined_ids)
        result["relevant_pairs"] = sum(len(r) for r in relevant.values())
        result["channels"] = channel_recall(tops, relevant)
        for name, figures in result["channels"].items():
            print(f"{name}: {figures}")

        # 4. the catalog channel's title_search modes
        order = [q for q in load_queries(engine) if q.id in mined_ids]
        result["catalog_modes"] = catalog_modes(
            engine, cfg, [q.text for q in order], [q.id for q in order], tops["bm25"], relevant
        )

        # 5. bm25s vs rank_bm25
        products = load_products(engine)
        texts = [q.text for q in order]
        speeds = {}
        for engine_name, n in (("bm25s", len(texts)), ("rank_bm25", args.rank_bm25_queries)):
            channel = Bm25Channel(engine=engine_name)
            channel.index(products)
            channel.search(texts[:10], 100)  # warm up (numba compiles on first use)
            t0 = time.perf_counter()
            channel.search(texts[:n], 100)
            speeds[engine_name] = n / (time.perf_counter() - t0)
        print(
            f"bm25 top-100 queries/s: bm25s {speeds['bm25s']:,.0f}, rank_bm25 "
            f"{speeds['rank_bm25']:,.1f} -> {speeds['bm25s'] / speeds['rank_bm25']:,.0f}x "
            "(target >= 100x)"
        )
        result["bm25_queries_per_second"] = {k: round(v, 1) for k, v in speeds.items()}
    write_results(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
