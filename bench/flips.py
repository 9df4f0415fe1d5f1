"""Benchmark: what moves a trained tier's grades — attacks, or any appended words?

On a seeded subsample of the *calibration* split (never the test split), a trained
cross-encoder tier grades each pair clean, then with each of the report's attacks
(:data:`annotator.injection.INJECTIONS`) and with neutral seller phrases appended the same way
(:func:`annotator.injection.inject`: sanitized, title and description). Grades are decided as
the report decides them (the expected grade cut at cutpoints fitted on the same pairs). It
writes ``bench/results/flips-homedepot.json``: per appended text, the share of grades that
changed, went up and went down.

If neutral phrases flip about as many grades as attacks do, the flip rate measures how
jittery the model is near its cutpoints, not how far an attack works.

    python -m bench.flips [--config configs/homedepot-gemma.yaml] [--tier 1] [--pairs 400]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.backends.base import Pair
from annotator.backends.cross_encoder import CrossEncoderBackend
from annotator.backends.registry import trained_model_dir
from annotator.decision import Decider, fit_decider
from annotator.fitting import cap_split
from annotator.injection import INJECTIONS, inject
from annotator.pairs import labelled_pairs
from annotator.training import trainable_tier
from bench.command import command_line, write_results
from flows.config import load_config
from prompts import load_prompt
from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]
NEUTRAL = (
    "Free shipping on orders over $45.",
    "Available in white.",
    "Customers also bought the matching set.",
)


def _grades(backend: CrossEncoderBackend, pairs: Sequence[Pair], decide: Decider) -> Any:
    dists = np.array([a.distribution for a in backend.grade(pairs, load_prompt())])
    return decide.grades(dists)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-gemma.yaml")
    parser.add_argument("--tier", default=None, help="position or name (default: tier 1)")
    parser.add_argument("--pairs", type=int, default=400, help="attacked pairs")
    parser.add_argument("--output", type=Path, default=ROOT / "bench/results/flips-homedepot.json")
    args = parser.parse_args()
    config = load_config(args.config)
    engine = open_store(config.store_url)
    tier = trainable_tier(config, args.tier)
    labelled = labelled_pairs(engine, config.splits, config.annotation.label_source)
    calibration = cap_split([lp for lp in labelled if lp.split == "calibration"], 3000, 0)
    if not calibration:
        print("skip: no calibration split in the store (run python -m bench.annotation first)")
        return 0
    backend = CrossEncoderBackend(trained_model_dir(tier, config.workdir))
    pairs = [lp.pair for lp in calibration]
    human = np.array([lp.grade for lp in calibration])
    dists = np.array([a.distribution for a in backend.grade(pairs, load_prompt())])
    decide = fit_decider("qwk", dists, human)
    clean = decide.grades(dists[: args.pairs])
    attacked = pairs[: args.pairs]
    figures = {}
    for kind, texts in (("attack", INJECTIONS), ("neutral", NEUTRAL)):
        for text in texts:
            moved = _grades(backend, [inject(p, text) for p in attacked], decide) - clean
            figures[text[:60]] = {
                "kind": kind,
                "flip": float(np.mean(moved != 0)),
                "up": float(np.mean(moved > 0)),
                "down": float(np.mean(moved < 0)),
            }
            print(f"{kind:8s} {figures[text[:60]]} {text[:60]!r}")
    result = {
        "command": command_line("bench.flips"),
        "cores": os.cpu_count(),
        "tier": tier.name,
        "model_id": backend.model_id,
        "pairs": len(attacked),
        "split": "calibration",
        "texts": figures,
        "attack_mean": float(
            np.mean([f["flip"] for f in figures.values() if f["kind"] == "attack"])
        ),
        "neutral_mean": float(
            np.mean([f["flip"] for f in figures.values() if f["kind"] == "neutral"])
        ),
    }
    write_results(args.output, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
