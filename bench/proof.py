"""Benchmark: does the curriculum train a better retriever? The whole chain on Home Depot.

After ``python -m bench.annotation`` (tier 1 trained, the cascade calibrated, in the same
store), this mines every query but the evaluation ones, annotates the candidates under the
config's sample budget (``annotation.sample``), builds and exports the curriculum, trains the
recipes (``train.recipes``, or each ``--recipe``: library recipes and the ablations of
``bench/ablations.py``) and scores them and the base model on the held-out evaluation queries
over the whole catalog (``dissent evaluate``; each model after ``human`` is also tested
against it). Writes ``bench/results/eval-homedepot.json`` (and ``.html``) with the figures and
the wall time of each step. The evaluation queries are read only by the last step.

    python -m bench.proof [--config configs/homedepot-pipeline.yaml] [--stages]
        [--recipe NAME ...]

``--stages`` also scores the model after each intermediate stage of a multi-stage recipe.
``--title-search`` is the catalog channel's title search (default ``always``, with which the
README's proof figures were mined; the product's channel uses ``trigrams``).
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

from annotator.annotating import annotate
from bench.ablations import TABLE
from bench.command import command_line, write_results
from curriculum.build import build_curriculum
from curriculum.export import export_curriculum
from flows.config import load_config
from miners.mine import mine
from retriever.evaluating import evaluate_models
from retriever.paths import base_model
from retriever.training import train_recipes
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
    parser.add_argument(
        "--recipe", action="append", choices=list(TABLE), help="default: train.recipes"
    )
    parser.add_argument(
        "--title-search",
        choices=["always", "trigrams", "unrecognised", "never"],
        default="always",
        help="the catalog channel's title search (the README's figures: always)",
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

    options = {"catalog": {"title_search": args.title_search}}
    mined = timed("mine", mine, engine, config, channel_options=options)
    steps["mine"].update(queries=mined.queries, held_out=mined.held_out, candidates=mined.counts)
    graded = timed("annotate", annotate, engine, config, mining_run=mined.run_id)
    steps["annotate"].update(pairs=graded.pairs, decided_by=graded.decided_by, failed=graded.failed)
    built = timed("curriculum", build_curriculum, engine, config, mining_run=mined.run_id)
    steps["curriculum"].update(stages=built.per_stage_split, levels=built.levels.get("per_level"))
    timed("export", export_curriculum, engine, config, curriculum_run=built.run_id)
    trained = timed("train", train_recipes, engine, config, recipes=args.recipe, table=TABLE)
    steps["train"].update(run=trained.run_id, recipes={r.recipe: asdict(r) for r in trained.models})
    models = {"base": base_model(config)}
    for r in trained.models:
        if args.stages:  # which stage helps and which hurts
            for number, stage in enumerate(r.stages[:-1], start=1):
                models[f"{r.recipe} after stage {number} ({stage['data']})"] = stage["path"]
        models[r.recipe] = r.model_dir
    against = ("human",) if "human" in models else ()  # does the curriculum add to the labels?
    command = command_line("bench.proof")
    evaluation = timed(
        "evaluate",
        evaluate_models,
        engine,
        config,
        models,
        against=against,
        output=args.output,
        command=command,
    )
    data = json.loads(Path(evaluation.files["json"]).read_text())
    data.update(cores=os.cpu_count(), steps=steps, config=str(args.config))
    write_results(args.output, data)
    for m in evaluation.models:
        print(m.name, {k: round(v, 4) for k, v in m.overall.items()}, m.p_values.get("ndcg@10"))
    print(f"wrote {evaluation.files['json']} and {evaluation.files['html']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
