"""Benchmark: three-channel mining against sentence-transformers' ``mine_hard_negatives``.

In one run, on the Home Depot catalog (54,667 products) and queries (11,795):

1. our mining (bm25 + dense + catalog, top-500 each, disagreement sets, negatives, written to a
   fresh SQLite store, no embedding cache) — wall time per step and in total, process peak;
2. ``mine_hard_negatives`` (dense only, faiss, top-100, 5 negatives) over the positive pairs
   (grade >= 2, i.e. rater mean >= 2.5) with the same packaged model and batch size, in a
   child process of its own (so that its peak memory is its own);

   1 and 2 run alternately ``--runs`` times each (default 3): the ratio reported is the median
   of the runs' ratios, with their range, so that one figure does not swing with the machine.
   The dense encoder's ONNX export (``mining.dense.runtime: onnx-int8``) is made before the
   timed runs, if the user's cache lacks it, and timed on its own; then one warm run (the embedding cache of the last
   cold run copied in) says what mining costs when the catalog has not changed;
3. what each channel finds: Recall@100 of the human-relevant products (grade >= 2) of the
   mined queries, and the share of those found by that channel alone (read back from the
   run's ranked lists);
4. the catalog channel's ``title_search`` modes (always / unrecognised / never / trigrams),
   each searched over the same queries: Jaccard@100 with BM25 and Recall@100;
5. bm25s against rank_bm25 in queries per second on the same catalog;

and prints the wall-time ratio ours/theirs (target <= 1.0), the bm25s speed-up (target >= 100x)
and peak memory. Writes ``bench/results/mining-homedepot.json``.

    python -m bench.mining [--queries N] [--runs 3] [--runtime auto|torch|onnx-int8] [--output PATH]
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
import shutil
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


def ours_once(template: Path, folder: Path, args: argparse.Namespace, warm: Path | None) -> Any:
    """One timed run of our mining on a copy of the ingested store, in its own workdir.

    The dense encoder's ONNX export is made once before any timed run (like installing the
    model: it lives in the user's cache); a warm run starts with the embedding cache of ``warm``.
    Returns ``(report, seconds, config)``.
    """
    folder.mkdir(parents=True)
    shutil.copy(template, folder / "bench.db")
    work = folder / "work"
    (work / "cache").mkdir(parents=True)
    if warm is not None:
        shutil.copytree(warm / "work" / "cache" / "embeddings", work / "cache" / "embeddings")
    env = {
        "DISSENT_STORE__URL": f"sqlite:///{folder}/bench.db",
        "DISSENT_WORKDIR": str(work),
        "DISSENT_PRECISION": args.precision,
        "DISSENT_MINING__DENSE__RUNTIME": args.runtime,
    }
    cfg = load_config(None, environ=env)
    engine = open_store(cfg.store_url)
    started = time.perf_counter()
    report = mine(engine, cfg, query_limit=args.queries)
    seconds = time.perf_counter() - started
    engine.dispose()
    return report, seconds, cfg


def theirs_once(job: Path) -> dict[str, Any]:
    """One timed run of ``mine_hard_negatives`` in a child process (its own peak memory)."""
    child = subprocess.run(
        [sys.executable, "-m", "bench.mining", "--theirs", str(job)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if child.returncode:
        print(child.stderr[-3000:], file=sys.stderr)
        child.check_returncode()
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


def export_encoder(args: argparse.Namespace) -> float:
    """Export the dense encoder (runtime onnx-int8) unless the user's cache has it; seconds."""
    from core.encoder import Encoder

    encoder = Encoder(precision=args.precision, runtime=args.runtime)
    started = time.perf_counter()
    if encoder.runtime == "onnx-int8":
        encoder.encode(["warm up"])
    return time.perf_counter() - started


def _steps(report: Any) -> dict[str, dict[str, float]]:
    return {n: {k: round(v, 1) for k, v in t.items()} for n, t in report.timings.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=None, help="first N queries only")
    parser.add_argument("--runs", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--rank-bm25-queries", type=int, default=200)
    parser.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="our dense encoder's precision (theirs runs sentence-transformers' float32 default)",
    )
    parser.add_argument(
        "--runtime",
        default="auto",
        choices=["auto", "torch", "onnx-int8"],
        help="our dense encoder's runtime (mining.dense.runtime)",
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
        template = Path(tmp) / "template.db"
        cfg = load_config(None, environ={"DISSENT_STORE__URL": f"sqlite:///{template}"})
        engine = open_store(cfg.store_url)
        ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), csv)
        export_seconds = export_encoder(args)

        # the same positive pairs and catalog for theirs as the queries we mine
        from miners.mine import queries_to_mine

        mined_ids = {q.id for q in queries_to_mine(engine, cfg, args.queries)[0]}
        with engine.connect() as conn:
            labelled = conn.execute(
                select(HumanLabel.query_id, Query.text, Product.title)
                .join(Query, Query.id == HumanLabel.query_id)
                .join(Product, Product.id == HumanLabel.product_id)
                .where(HumanLabel.grade >= 2)
            ).all()
        pairs = [(q, p) for qid, q, p in labelled if qid in mined_ids]
        corpus = [p.title for p in load_products(engine)]
        engine.dispose()
        job = Path(tmp) / "theirs.json"
        job.write_text(
            json.dumps(
                {"pairs": pairs, "corpus": corpus, "batch_size": cfg.mining.dense.batch_size}
            )
        )

        # 1-2. ours and theirs, alternately, args.runs times each
        runs: list[dict[str, Any]] = []
        for r in range(args.runs):
            report, ours, run_cfg = ours_once(template, Path(tmp) / f"run{r}", args, None)
            ours_peak = peak_mib()
            them = theirs_once(job)
            ratio = ours / them["seconds"]
            compute = sum(v for t in report.timings.values() for k, v in t.items() if k != "write")
            runs.append(
                {
                    "ours_seconds": round(ours, 1),
                    "theirs_seconds": round(them["seconds"], 1),
                    "ratio": round(ratio, 3),
                    "ratio_without_writes": round(compute / them["seconds"], 3),
                    "ours_steps": _steps(report),
                    "ours_peak_mib": round(ours_peak),
                    "theirs_peak_mib": round(them["peak_mib"]),
                }
            )
            print(
                f"run {r + 1}/{args.runs}: ours {ours:.1f} s, theirs {them['seconds']:.1f} s, "
                f"ratio {ratio:.2f}"
            )
            print("\n".join(report.lines()))
        last = Path(tmp) / f"run{args.runs - 1}"
        warm_report, warm_seconds, _ = ours_once(template, Path(tmp) / "warm", args, last)
        from core.encoder import Encoder

        encoder = Encoder(precision=args.precision, runtime=run_cfg.mining.dense.runtime)
        ratios = sorted(r["ratio"] for r in runs)
        median = float(np.median(ratios))
        print(
            f"wall time ours/theirs over {args.runs} alternating runs: median {median:.2f} "
            f"(range {ratios[0]:.2f}-{ratios[-1]:.2f}; target <= 0.5); warm run (embedding "
            f"cache filled) {warm_seconds:.1f} s; encoder export {export_seconds:.1f} s once"
        )
        them_last = runs[-1]
        result.update(
            {
                "products": report.products,
                "queries": report.queries,
                "top_k": run_cfg.mining.top_k,
                "dense_precision": encoder.precision,
                "dense_runtime": encoder.runtime,
                "encoder_export_seconds": round(export_seconds, 1),
                "runs": runs,
                "ratio": round(median, 3),
                "ratio_range": [ratios[0], ratios[-1]],
                "ratio_without_writes": round(
                    float(np.median([r["ratio_without_writes"] for r in runs])), 3
                ),
                "ours": {
                    "seconds": round(float(np.median([r["ours_seconds"] for r in runs])), 1),
                    "peak_mib": max(r["ours_peak_mib"] for r in runs),
                    "steps": them_last["ours_steps"],
                    "retrievals_written": report.counts.get("retrievals_written"),
                    "candidates": {
                        k: v for k, v in report.counts.items() if k != "retrievals_written"
                    },
                },
                "warm": {"seconds": round(warm_seconds, 1), "steps": _steps(warm_report)},
                "theirs": {
                    "seconds": round(float(np.median([r["theirs_seconds"] for r in runs])), 1),
                    "peak_mib": max(r["theirs_peak_mib"] for r in runs),
                    "positive_pairs": len(pairs),
                },
                "overlap": report.overlap,
            }
        )

        # 3. what each channel finds (read back from the last cold run's store)
        engine = open_store(f"sqlite:///{last}/bench.db")
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
        engine.dispose()
    write_results(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
