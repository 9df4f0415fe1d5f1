"""Benchmark: label quality on Home Depot — tier 1 trained, the cascade calibrated, on held-out
queries.

Ingests Home Depot into the config's store when it is empty, trains tier 1 on the
tier-training split (``dissent annotate train-tier``; every cross-encoder tier without a model), calibrates the cascade
(``dissent calibrate``: route chosen by cross-validation on the calibration split) and writes
``bench/results/annotation-homedepot.json``: per tier and for the cascade, test QWK and exact
agreement with 95% intervals, the share of random products graded relevant, the injection
flip rate, the compute share, and the time of each step. Nothing here is tuned on the test
split: the figures are read off the calibration report.

    python -m bench.annotation [--config configs/homedepot-pipeline.yaml] [--retrain]
        [--train-limit N] [--consistency-weight W] [--signals lexical dense | --signals]
        [--combiner-min-gain G]

The last three are training experiments, not settings: the weight of the trainer's consistency
term (default 0: off), the channel signals the combiner may use (``--signals`` alone: none, no
combiner) and the dev-slice gain it must reach to be kept (default 0.01; 0: any gain).
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import resource
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from annotator.backends.registry import backend_class
from annotator.calibrating import calibrate
from annotator.combiner import MIN_GAIN, SIGNALS, CombinerSettings
from annotator.training import train_tier, untrained_tiers
from bench.command import command_line, write_results
from flows.config import load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from store.db import open_store
from store.ledger import table_counts

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))
RESULTS = ROOT / "bench" / "results"


def _tier(t: Any) -> dict[str, Any]:
    return {
        "qwk": t.calibrated.qwk,
        "qwk_interval": t.qwk_interval,
        "exact": t.calibrated.exact,
        "exact_interval": t.exact_interval,
        "raw_qwk": t.raw.qwk,
        "test_pairs": t.pairs["test"],
        "calibration_pairs": t.pairs["calibration"],
        "cv_qwk_alone": t.cv_score,
        "random_relevant": t.random_relevant,
        "flip_rate": t.flip_rate,
        "flip_interval": t.flip_interval,
        "flip_attacks": t.flip_attacks,
        "bypassed": t.bypassed or None,
        "seconds_per_1k_pairs": t.seconds_per_1k,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-pipeline.yaml")
    parser.add_argument(
        "--retrain", action="store_true", help="train the cross-encoder tiers even if trained"
    )
    parser.add_argument(
        "--train-limit", type=int, default=None, help="train on the first N tier-training pairs"
    )
    parser.add_argument(
        "--consistency-weight", type=float, default=0.0, help="the consistency term's weight"
    )
    parser.add_argument(
        "--signals",
        nargs="*",
        choices=SIGNALS,
        default=list(SIGNALS),
        help="signals the combiner may use (none: no combiner)",
    )
    parser.add_argument(
        "--combiner-min-gain", type=float, default=MIN_GAIN, help="dev QWK the combiner must add"
    )
    parser.add_argument("--output", type=Path, default=RESULTS / "annotation-homedepot.json")
    args = parser.parse_args()
    combiner = CombinerSettings(signals=tuple(args.signals), min_gain=args.combiner_min_gain)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    csv = DATA / "train.csv"
    if not csv.exists():
        print(f"skip: {csv} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    config = load_config(args.config)
    engine = open_store(config.store_url)
    steps: dict[str, float] = {}
    started = time.perf_counter()
    if table_counts(engine)["products"] == 0:
        ingest_dataset(engine, load_mapping(ROOT / "configs/homedepot.yaml"), csv)
        steps["ingest"] = time.perf_counter() - started
    training = {}
    trainable = [t.name for t in config.annotation.tiers if backend_class(t).trainable]
    for name in trainable if args.retrain else untrained_tiers(config):
        t0 = time.perf_counter()
        trained = train_tier(
            engine,
            config,
            name,
            limit=args.train_limit,
            consistency_weight=args.consistency_weight,
            combiner=combiner,
        )
        training[name] = asdict(trained)
        steps[f"train {name}"] = time.perf_counter() - t0
        print(f"tier {name}: {training[name]}")
    t0 = time.perf_counter()
    outcome, paths = calibrate(engine, config, enforce_gate=False)
    steps["calibrate"] = time.perf_counter() - t0
    c = outcome.cascade
    result = {
        "command": command_line("bench.annotation"),
        "config": str(args.config),
        "cores": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "objective": outcome.objective,
        "splits": outcome.splits,
        "test_pairs": c.test.n,
        "tiers": {t.name: _tier(t) for t in outcome.tiers},
        "cascade": {
            "route": c.route,
            "qwk": c.test.qwk,
            "qwk_interval": c.qwk_interval,
            "exact": c.test.exact,
            "exact_interval": c.exact_interval,
            "cost_share": c.cost_share_of_top_tier,
            "flip_rate": c.flip_rate,
            "flip_interval": c.flip_interval,
            "flip_attacks": c.flip_attacks,
            "random_relevant": c.random_relevant,
            "random_pairs": c.random_pairs,
            "cv_qwk": c.cv_score,
            "test_pairs": c.test.n,
            "tiers_qwk_on_the_same_pairs": c.tiers_on_same_pairs,
            "route_beats_best_tier_in_resamples": c.significance,
        },
        "gate": asdict(outcome.gate),
        "training": training,
        "seconds": steps,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "report": str(paths["markdown"]),
    }
    write_results(args.output, result)
    print(paths["markdown"].read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
