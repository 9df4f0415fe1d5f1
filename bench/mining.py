"""Benchmark: three-channel mining against sentence-transformers' ``mine_hard_negatives``.

In one process, on the Home Depot catalog (54,667 products) and queries (11,795):

1. our mining (bm25 + dense + catalog, top-500 each, disagreement sets, negatives, written to a
   fresh SQLite store, no embedding cache) — wall time per channel and in total;
2. ``mine_hard_negatives`` (dense only, faiss, top-100, 5 negatives) over the positive pairs
   (grade >= 2, i.e. rater mean >= 2.5) with the same packaged model and batch size;
3. bm25s against rank_bm25 in queries per second on the same catalog;

and prints the wall-time ratio ours/theirs (target <= 1.0), the bm25s speed-up (target >= 100x)
and peak memory (process peak after each step; ours runs first).

    python -m bench.mining [--queries N]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from sqlalchemy import select

from flows.config import load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.bm25 import Bm25Channel
from miners.config import Bm25Config
from miners.mine import mine
from store.catalog import load_products, load_queries
from store.db import open_store
from store.schema import HumanLabel, Product, Query

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
    args = parser.parse_args()
    csv = DATA / "train.csv"
    if not csv.exists():
        print(f"skip: {csv} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "DISSENT_STORE__URL": f"sqlite:///{tmp}/bench.db",
            "DISSENT_WORKDIR": f"{tmp}/work",
            "DISSENT_MINING__DENSE__PRECISION": args.precision,
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
        from miners.embeddings import Encoder

        precision = Encoder(precision=args.precision).precision
        compute = sum(v for t in report.timings.values() for k, v in t.items() if k != "write")
        print(f"our dense precision: {precision}; compute without store writes: {compute:.1f} s")

        # 2. theirs, on the same catalog and the positive pairs of the same queries
        from datasets import Dataset
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.util import mine_hard_negatives

        from core.models import default_model_path

        queries = load_queries(engine, limit=args.queries)
        wanted = {q.id for q in queries}
        with engine.connect() as conn:
            pairs = conn.execute(
                select(HumanLabel.query_id, Query.text, Product.title)
                .join(Query, Query.id == HumanLabel.query_id)
                .join(Product, Product.id == HumanLabel.product_id)
                .where(HumanLabel.grade >= 2)
            ).all()
        pairs = [(q, p) for qid, q, p in pairs if qid in wanted]
        corpus = [p.title for p in load_products(engine)]
        dataset = Dataset.from_dict(
            {"query": [q for q, _ in pairs], "positive": [p for _, p in pairs]}
        )
        started = time.perf_counter()
        model = SentenceTransformer(default_model_path(), device="cpu")
        mined = mine_hard_negatives(
            dataset,
            model,
            corpus=corpus,
            range_max=100,
            num_negatives=5,
            use_faiss=True,
            batch_size=cfg.mining.dense.batch_size,
            verbose=False,
        )
        theirs = time.perf_counter() - started
        print(
            f"mine_hard_negatives: {len(pairs):,} positive pairs over "
            f"{len({q for q, _ in pairs}):,} queries, {len(corpus):,} products -> {len(mined):,} "
            f"triplets in {theirs:.1f} s, process peak {peak_mib():,.0f} MiB"
        )
        print(
            f"wall time ours/theirs: {ours:.1f} s / {theirs:.1f} s = {ours / theirs:.2f} "
            f"(target <= 1.0; ours: 3 channels x top-{cfg.mining.top_k}, sets, negatives, "
            f"store writes; peak {ours_peak:,.0f} MiB); without our store writes: "
            f"{compute / theirs:.2f}"
        )

        # 3. bm25s vs rank_bm25
        products = load_products(engine)
        texts = [q.text for q in queries]
        speeds = {}
        for engine_name, n in (("bm25s", len(texts)), ("rank_bm25", args.rank_bm25_queries)):
            channel = Bm25Channel(Bm25Config(engine=engine_name))  # type: ignore[arg-type]
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
