"""Benchmark: does the curriculum train a better retriever? The whole chain on Home Depot.

After ``python -m bench.annotation`` (tier 1 trained, the cascade calibrated, in the same
store), this mines every query but the evaluation ones, annotates the candidates under the
config's sample budget (``annotation.sample``), builds and exports the curriculum, trains every
recipe (``dissent train``) and scores them and the base model on the held-out evaluation
queries over the whole catalog (``dissent evaluate``; each model after ``human`` is also tested
against it). Writes
``bench/results/eval-homedepot.json`` (and ``.html``) with the figures and the wall time of
each step. The evaluation queries are read only by the last step.

    python -m bench.proof [--config configs/homedepot-pipeline.yaml] [--stages]

``--stages`` also scores the model after each intermediate stage of a multi-stage recipe.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from annotator.service import annotate
from bench.command import write_results
from core.models import default_model_path
from curriculum.build import build_curriculum
from curriculum.evaluation import evaluate_models, write_evaluation
from curriculum.export import export_curriculum
from curriculum.train import train_recipes
from flows.config import load_config
from miners.mine import mine
from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-pipeline.yaml")
    parser.add_argument("--output", type=Path, default=RESULTS / "eval-homedepot.json")
    parser.add_argument(
        "--stages",
        action="store_true",
        help="also score each intermediate stage of the multi-stage recipes",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = load_config(args.config)
    engine = open_store(config.store_url)
    steps: dict[str, Any] = {}

    def timed(name: str, fn: Any, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*a, **k)
        steps[name] = {"seconds": round(time.perf_counter() - t0, 1)}
        print(f"{name}: {steps[name]['seconds']} s", flush=True)
        return result

    mined = timed("mine", mine, engine, config)
    steps["mine"].update(queries=mined.queries, held_out=mined.held_out, candidates=mined.counts)
    graded = timed("annotate", annotate, engine, config, mining_run=mined.run_id)
    steps["annotate"].update(pairs=graded.pairs, decided_by=graded.decided_by, failed=graded.failed)
    built = timed("curriculum", build_curriculum, engine, config, mining_run=mined.run_id)
    steps["curriculum"].update(stages=built.per_stage_split, levels=built.levels.get("per_level"))
    timed("export", export_curriculum, engine, config, curriculum_run=built.run_id)
    reports = timed("train", train_recipes, engine, config)
    steps["train"]["recipes"] = {r.recipe: asdict(r) for r in reports}
    models = {"base": config.train.base_model or default_model_path()}
    for r in reports:
        if args.stages:  # which stage helps and which hurts
            for number, stage in enumerate(r.stages[:-1], start=1):
                models[f"{r.recipe} after stage {number} ({stage['data']})"] = stage["path"]
        models[r.recipe] = r.model_dir
    against = ("human",) if "human" in models else ()  # does the curriculum add to the labels?
    evaluation = timed("evaluate", evaluate_models, engine, config, models, against=against)
    command = "python -m bench.proof " + " ".join(sys.argv[1:])
    paths = write_evaluation(evaluation, args.output, command)
    data = json.loads(paths["json"].read_text())
    data.update(cores=os.cpu_count(), steps=steps, config=str(args.config))
    write_results(args.output, data)
    for m in evaluation.models:
        print(m.name, {k: round(v, 4) for k, v in m.overall.items()}, m.p_values.get("ndcg@10"))
    print(f"wrote {paths['json']} and {paths['html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
