"""Benchmark: ``dissent annotate`` on a mining run that is already graded (issue 12).

A second annotate run over the same candidates must find every label and call no model. This
times such a run against the first annotate run of the same mining run and cascade (its
wall time from the ledger) and writes ``bench/results/annotate-cache.json``. Run it after a
first annotate, for example after ``python -m bench.proof``:

    python -m bench.annotate_cache [--config configs/homedepot-proof.yaml]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

from annotator.annotating import annotate
from bench.command import command_line, write_results
from flows.config import load_config
from store.db import open_store
from store.ledger import Flow, annotation_of, resolve_run

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-proof.yaml")
    parser.add_argument("--output", type=Path, default=RESULTS / "annotate-cache.json")
    args = parser.parse_args()
    config = load_config(args.config)
    engine = open_store(config.store_url)
    mining = resolve_run(engine, Flow.MINE).id
    t0 = time.perf_counter()
    report = annotate(engine, config, mining_run=mining)
    again = time.perf_counter() - t0
    first = annotation_of(engine, mining, report.cascade_id, oldest=True)
    assert first is not None and first.finished_at is not None  # the run just made, at least
    first_s = (first.finished_at - first.started_at).total_seconds()
    calls = sum(report.model_calls.values())
    result = {
        "command": command_line("bench.annotate_cache"),
        "config": str(args.config),
        "cores": os.cpu_count(),
        "mining_run": mining,
        "pairs": report.pairs,
        "first_run": {"id": first.id, "seconds": round(first_s, 1), "counts": first.counts},
        "again_seconds": round(again, 1),
        "speedup": round(first_s / again, 1) if again else None,
        "model_calls_again": calls,
        "already_labelled": report.already_labelled,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    write_results(args.output, result)
    print(
        f"first annotate {first_s:.1f} s, again {again:.1f} s ({result['speedup']}x), "
        f"{calls} model calls, {report.already_labelled:,} of {report.pairs:,} pairs labelled"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
