"""Benchmark: would averaging tier-1 models trained with different seeds lift its agreement?

Tier 1 on Home Depot sits at test QWK 0.49 and does not move with more human pairs
(``bench/results/annotation-homedepot-train50.json``). Averaging the grade distributions of a
few cross-encoders that differ only in their seed (the dev slice, negatives, copies and batch
order) is the cheapest larger model there is. This trains tier 1 again for each extra seed
(``tier1_training.seed``; saved beside the config's tier 1 as ``<model>-seed<N>``; the config's
own tier 1 is trained first if it has no model), grades every human-labelled pair of the
calibration and test splits with each model, and for each model alone and for the mean of all
of them fits the ``qwk`` decider (expected grade cut at cutpoints) on the calibration split and
scores the test split once. No isotonic maps, no random products: the figures compare the
variants with each other, not with the calibration report's.

    python -m bench.tier1_ensemble [--config configs/homedepot-proof.yaml] [--seeds 1]

Writes ``bench/results/tier1-ensemble-homedepot.json``. On 2 cores with bf16: about 8 minutes
to train a seed (one epoch) and 2 minutes to grade both splits per model.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from annotator.backends.cross_encoder import CrossEncoderBackend
from annotator.backends.registry import trained_model_dir
from annotator.decision import fit_decider, qwk
from annotator.metrics import bootstrap_interval
from annotator.pairs import labelled_pairs
from annotator.training import train_tier
from bench.command import command_line, write_results
from flows.config import PipelineConfig, load_config
from prompts import load_prompt
from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]


def _seed_config(config: PipelineConfig, seed: int, model_dir: Path) -> PipelineConfig:
    """``config`` with tier 1 trained with ``seed`` into ``model_dir``."""
    copy = config.model_copy(deep=True)
    copy.annotation.tiers[0].model = str(model_dir)
    copy.annotation.tier1_training.seed = seed
    return copy


def _scores(human_cal: Any, cal: Any, human_test: Any, test: Any) -> dict[str, Any]:
    decide = fit_decider("qwk", cal, human_cal)
    predicted = np.asarray(decide.grades(test), dtype=np.int64)
    return {
        "test_qwk": qwk(human_test, predicted),
        "test_qwk_interval": bootstrap_interval(human_test, predicted, "qwk"),
        "test_exact": float(np.mean(predicted == human_test)),
        "calibration_qwk": qwk(human_cal, np.asarray(decide.grades(cal), dtype=np.int64)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-proof.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1], help="extra seeds")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench/results/tier1-ensemble-homedepot.json"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = load_config(args.config)
    engine = open_store(config.store_url)
    pairs = labelled_pairs(engine, config.splits, config.annotation.label_source)
    cal = [lp for lp in pairs if lp.split == "calibration"]
    test = [lp for lp in pairs if lp.split == "test"]
    if not cal or not test:
        print("skip: no labelled pairs in the store (run python -m bench.annotation first)")
        return 0
    base = trained_model_dir(config.annotation.tiers[0], config.workdir)
    seeds = {config.annotation.tier1_training.seed: base}
    seeds.update({s: base.with_name(f"{base.name}-seed{s}") for s in args.seeds})
    trained: dict[int, Any] = {}
    for seed, folder in seeds.items():
        if not (folder / "config.json").exists():
            t0 = time.perf_counter()
            result = train_tier(engine, _seed_config(config, seed, folder), 1)
            trained[seed] = {"dev_qwk": result.dev_qwk, "seconds": time.perf_counter() - t0}
            print(f"seed {seed}: trained into {folder}, dev QWK {result.dev_qwk}", flush=True)
    prompt = load_prompt()
    human_cal = np.array([lp.grade for lp in cal], dtype=np.int64)
    human_test = np.array([lp.grade for lp in test], dtype=np.int64)
    dists: dict[int, tuple[Any, Any]] = {}
    for seed, folder in seeds.items():
        backend = CrossEncoderBackend(folder)
        cal_d, test_d = (
            np.array([a.distribution for a in backend.grade([lp.pair for lp in split], prompt)])
            for split in (cal, test)
        )
        dists[seed] = (cal_d, test_d)
    variants: dict[str, Any] = {}
    for seed, (c, t) in dists.items():
        variants[f"seed {seed}"] = _scores(human_cal, c, human_test, t)
    mean_cal = np.mean([c for c, _ in dists.values()], axis=0)
    mean_test = np.mean([t for _, t in dists.values()], axis=0)
    variants[f"mean of {len(dists)} seeds"] = _scores(human_cal, mean_cal, human_test, mean_test)
    for name, v in variants.items():
        lo, hi = v["test_qwk_interval"]
        print(
            f"{name:16s} test QWK {v['test_qwk']:.3f} [{lo:.3f}, {hi:.3f}] exact {v['test_exact']:.1%}"
        )
    write_results(
        args.output,
        {
            "command": command_line("bench.tier1_ensemble"),
            "cores": os.cpu_count(),
            "config": str(args.config),
            "calibration_pairs": len(cal),
            "test_pairs": len(test),
            "models": {str(s): str(f) for s, f in seeds.items()},
            "trained": trained,
            "variants": variants,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
