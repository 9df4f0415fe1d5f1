"""Benchmark: mining a catalog ten times Home Depot's, with precomputed embeddings and faiss IVF.

The catalog: Home Depot's 54,667 products plus synthetic ones up to ``--products`` (default
550,000), each made of two Home Depot titles recombined (the first half of one title's words,
the second half of another's, seeded). Embeddings are precomputed, as a production catalog's
would be (``mining.dense.embeddings_path``, ``.npy`` + ids): Home Depot's products are encoded
with the packaged MiniLM (bf16 where the CPU has it; not timed as mining), and a synthetic
product's vector is the normalised sum of its two source titles' vectors. So the figures are
wall time and memory at ten times the catalog, not relevance. The dense channel uses faiss IVF
(``nlist`` default 4·√N, ``nprobe`` 16).

Then ``mine`` runs, in a child process of its own so that its peak memory (``VmHWM``, target
<= 8 GiB) is the mining's alone, over Home Depot's queries outside the evaluation split (all
three channels, top-500, the prepared SQLite store), and its per-step times and peak go to
``bench/results/mining-10x.json``.

    python -m bench.mining_10x [--products 550000] [--queries N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from bench.command import command_line, write_results
from bench.mining import DATA, RESULTS, ROOT, peak_mib
from core.encoder import Encoder
from flows.config import load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from store.catalog import load_products
from store.db import open_store

MAPPING = """name: synthetic
catalog:
  file: {file}
  format: jsonl
  columns:
    external_id: id
    title: title
"""


def recombine(titles: list[str], count: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``count`` synthetic titles: (source pairs, titles), each the first half of one title's
    words and the second half of another's."""
    rng = np.random.default_rng(seed)
    sources = rng.integers(0, len(titles), size=(count, 2))
    words = [t.split() for t in titles]
    out = []
    for a, b in sources.tolist():
        head, tail = words[a], words[b]
        out.append(" ".join(head[: max(1, len(head) // 2)] + tail[len(tail) // 2 :]))
    return sources, out


def mine_here(limit: int | None) -> int:
    """Child process: mine the prepared store (config from the environment); print JSON."""
    config = load_config(None)
    engine = open_store(config.store_url)
    t0 = time.perf_counter()
    report = mine(engine, config, query_limit=limit)
    seconds = time.perf_counter() - t0
    print("\n".join(report.lines()))
    figures = {
        "products": report.products,
        "queries": report.queries,
        "top_k": config.mining.top_k,
        "dense_index": config.mining.dense.index,
        "seconds": round(seconds, 1),
        "steps": {n: {k: round(v, 1) for k, v in t.items()} for n, t in report.timings.items()},
        "peak_mib": round(peak_mib()),
        "candidates": report.counts,
        "overlap": report.overlap,
    }
    print(json.dumps(figures))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--products", type=int, default=550_000, help="catalog size in all")
    parser.add_argument("--queries", type=int, default=None, help="first N queries only")
    parser.add_argument("--output", type=Path, default=RESULTS / "mining-10x.json")
    parser.add_argument("--mine", action="store_true", help=argparse.SUPPRESS)  # the child
    args = parser.parse_args()
    if args.mine:
        return mine_here(args.queries)
    csv = DATA / "train.csv"
    if not csv.exists():
        print(f"skip: {csv} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    logging.basicConfig(level=logging.WARNING)
    result: dict[str, Any] = {
        "command": command_line("bench.mining_10x"),
        "cores": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store_url = f"sqlite:///{work}/bench.db"
        engine = open_store(store_url)
        ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), csv)
        real = load_products(engine)
        t0 = time.perf_counter()
        encoder = Encoder()
        vectors = encoder.encode([p.title for p in real]).astype(np.float32)
        result["encode_real_seconds"] = round(time.perf_counter() - t0, 1)

        extra = args.products - len(real)
        sources, titles = recombine([p.title for p in real], max(0, extra))
        catalog = work / "synthetic.jsonl"
        with catalog.open("w", encoding="utf-8") as out:
            for i, title in enumerate(titles):
                out.write(json.dumps({"id": f"syn{i}", "title": title}) + "\n")
        (work / "synthetic.yaml").write_text(MAPPING.format(file=catalog), encoding="utf-8")
        t0 = time.perf_counter()
        ingest_dataset(engine, load_mapping(work / "synthetic.yaml"))
        result["ingest_synthetic_seconds"] = round(time.perf_counter() - t0, 1)

        synthetic = vectors[sources[:, 0]] + vectors[sources[:, 1]]
        synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
        matrix = np.concatenate([vectors, synthetic]).astype(np.float32)
        ids = [p.external_id for p in real] + [f"syn{i}" for i in range(len(titles))]
        np.save(work / "embeddings.npy", matrix)
        (work / "embeddings.ids.txt").write_text("\n".join(ids) + "\n", encoding="utf-8")
        del vectors, synthetic, matrix, sources, titles, real

        environ = {
            "DISSENT_STORE__URL": store_url,
            "DISSENT_WORKDIR": str(work / "work"),
            "DISSENT_MINING__DENSE__INDEX": "ivf",
            "DISSENT_MINING__DENSE__EMBEDDINGS_PATH": str(work / "embeddings.npy"),
        }
        limit = [] if args.queries is None else ["--queries", str(args.queries)]
        child = subprocess.run(
            [sys.executable, "-m", "bench.mining_10x", "--mine", *limit],
            cwd=ROOT,
            env={**os.environ, **environ},
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        print(child.stdout)
        result.update(json.loads(child.stdout.strip().splitlines()[-1]))
    print(
        f"mined {result['queries']:,} queries over {result['products']:,} products in "
        f"{result['seconds']:.1f} s, peak {result['peak_mib']:,} MiB (target <= 8 GiB)"
    )
    write_results(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
