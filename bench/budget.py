"""Benchmark: how many human labels Dissent saves — the label-budget curve on Home Depot.

For each budget ``B`` (pairs, drawn as whole queries from the tier-training and calibration
splits; the test and evaluation splits are never spent) and each way of choosing them
(``random``; ``active``: a smaller budget's random pairs — ``--active-seed``, by default the
smallest of ``--budgets`` — then what :func:`review.queue.propose` asks for, ranked by that
budget's tier 1), three arms (:mod:`flows.budget`):

- ``human@B``: the ``human`` recipe on the B pairs, its epochs (1 or 4) chosen on validation;
- ``dissent@B``: tier 1 trained on the B pairs of tier-training queries, the cascade
  calibrated on those of calibration queries, the mining run annotated under
  ``annotation.sample``, the curriculum built and the ``staged`` recipe trained; its stages
  are kept up to the prefix with the best validation NDCG@10 (with ``--dissent-recipe mixed``
  the one-stage mixed recipe competes too, with ``mnr-only`` stage 2 alone from the base);
- ``human+dissent@B``: ``human-hardneg``, the B pairs each with a mined candidate the cascade
  graded irrelevant (with ``--then-human``, competing with the ``human`` recipe fine-tuned
  from ``dissent@B``'s chosen model, and from ``consensus@0`` with ``--consensus``: the
  mined data first, the labels last).

``human@all`` (every tier-training and calibration pair) and the base model are the
references; with ``--consensus``, so is ``consensus@0``, the base trained on the mining run's
consensus with no label at all (:mod:`bench.budget_consensus`). Every choice reads the validation queries (:mod:`bench.budget_scores`: test-split
queries over their judged products and a catalog sample); the chosen models are scored once
on the evaluation split over the whole catalog, each with a paired test against ``human@B``
of the random draw at the same ``B``. Mining runs once. Every step is kept in
``<workdir>/budget/state.json`` as it ends, so a killed run resumes at the next step.

    python -m bench.budget [--config configs/homedepot-budget.yaml] [--budgets 500 1000 2000 5000]
        [--strategies random active] [--active-seed 500] [--dissent-recipe staged --dissent-recipe mixed]
        [--then-human] [--consensus] [--output bench/results/budget-homedepot.json]

Writes ``bench/results/budget-homedepot.json`` (after every arm) and ``.html`` (the curve:
:mod:`bench.budget_page`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from annotator.pairs import candidate_rows
from annotator.training import train_tier
from bench.ablations import TABLE
from bench.budget_consensus import train_consensus
from bench.budget_page import write_page
from bench.budget_scores import Scorer, evaluation_set, p_value, summary, validation_set
from bench.command import command_line, write_results
from flows.budget import arm_config, dissent_labels, draw_active, draw_random, train_arm
from flows.config import PipelineConfig, load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from retriever.paths import base_model
from store.budgets import BUDGET_SPLITS, labels_of_splits
from store.db import open_store
from store.ledger import table_counts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DATA = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))
HUMAN_EPOCHS = (1, 4)
"""``human@B``'s epochs, chosen on validation (``all``: one, as the proof trains it)."""


class Bench:
    """The run's state: steps done (kept as they end), scorers, and the figures so far."""

    def __init__(self, config: PipelineConfig, args: argparse.Namespace) -> None:
        self.config = config
        self.args = args
        self.engine = open_store(config.store_url)
        self.folder = Path(config.workdir) / "budget"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.state_file = self.folder / "state.json"
        self.state: dict[str, Any] = (
            json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        )
        self.val: Scorer | None = None
        self.eval: Scorer | None = None

    def step(self, key: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn``'s JSON result, run once: a finished step is read back from the state."""
        if key in self.state:
            return self.state[key]["result"]
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        self.state[key] = {"result": result, "seconds": round(time.perf_counter() - t0, 1)}
        self.state_file.write_text(json.dumps(self.state, indent=1, default=str))
        print(f"{key}: {self.state[key]['seconds']} s", flush=True)
        return result


def _prepare(bench: Bench) -> tuple[int, str]:
    """Ingest Home Depot if the store is empty, mine once; the mining run and label source."""
    mapping = load_mapping(ROOT / "configs/homedepot.yaml")
    if table_counts(bench.engine)["products"] == 0:
        bench.step("ingest", lambda: len(ingest_dataset(bench.engine, mapping, DATA / "train.csv")))
    run = bench.step("mine", lambda: mine(bench.engine, bench.config).run_id)
    args = bench.args
    bench.val = Scorer(
        bench.config,
        validation_set(
            bench.engine, bench.config, mapping.name, args.val_queries, args.val_catalog, args.seed
        ),
        bench.folder / "scores",
    )
    bench.eval = Scorer(bench.config, evaluation_set(bench.engine, bench.config), bench.folder)
    return int(run), mapping.name


def _human(
    bench: Bench, arm: PipelineConfig, name: str, epochs: tuple[int, ...], label: str = "human"
) -> dict:
    """``human`` at each of ``epochs`` from ``arm``'s base model; the one with the best
    validation NDCG@10 (``label`` names its steps and folders)."""
    assert bench.val is not None
    tried = {}
    for e in epochs:
        cfg = arm.model_copy(deep=True)
        cfg.train.epochs = e
        out = Path(str(arm.train.output_dir)).parent / f"{label}-e{e}"
        path = bench.step(
            f"{name}/train/{label}-e{e}",
            lambda c=cfg, o=out: train_arm(bench.engine, c, ["human"], o).models[0].model_dir,
        )
        tried[f"epochs {e}"] = {"path": path, "val": bench.val.ndcg(f"{name}-{label}-e{e}", path)}
    best = max(tried, key=lambda k: tried[k]["val"])
    return {**tried[best], "chosen": best, "validation": tried}


def _stages(bench: Bench, name: str, recipe: str, report: dict, base_val: float) -> dict:
    """The prefix of ``report``'s stages with the best validation NDCG@10 (none: the base).

    A stage past that prefix is dropped; a stage inside it is kept even where it alone scores
    below the one before, since the stages after it were trained on top of it."""
    assert bench.val is not None
    paths = [s["path"] for s in report["stages"][:-1]] + [report["model_dir"]]
    scores = [bench.val.ndcg(f"{name}-{recipe}-stage{i}", p) for i, p in enumerate(paths, 1)]
    kept = max(range(len(scores) + 1), key=lambda k: scores[k - 1] if k else base_val)
    return {
        "recipe": recipe,
        "stages": [s["data"] for s in report["stages"]],
        "validation": scores,
        "kept": kept,
        "val": scores[kept - 1] if kept else base_val,
        "path": paths[kept - 1] if kept else None,
    }


def _dissent(bench: Bench, arm: PipelineConfig, name: str, base: str) -> dict:
    """The curriculum recipes trained on this arm's export; the best kept stages."""
    assert bench.val is not None
    base_val = bench.val.ndcg("base", base)
    options = []
    for recipe in bench.args.dissent_recipe or ["staged"]:
        report = bench.step(
            f"{name}/train/{recipe}",
            lambda r=recipe: _report(train_arm(bench.engine, arm, [r], _models(arm), TABLE)),
        )
        options.append(_stages(bench, name, recipe, report, base_val))
    best = max(options, key=lambda o: o["val"])
    return {**best, "path": best["path"] or base, "options": options, "base_val": base_val}


def _report(trained: Any) -> dict:
    r = trained.models[0]
    return {"model_dir": r.model_dir, "stages": r.stages, "seconds": r.seconds}


def _models(arm: PipelineConfig) -> Path:
    return Path(str(arm.train.output_dir))


def _arm(bench: Bench, name: str, drawn: dict, run: int, base: str) -> dict:
    """Every model of one budget and strategy, trained and chosen."""
    assert bench.val is not None
    arm = arm_config(bench.config, bench.folder / name, drawn["source"])
    human = _human(bench, arm, name, HUMAN_EPOCHS)
    labels = bench.step(f"{name}/labels", lambda: _plain(dissent_labels(bench.engine, arm, run)))
    dissent = _dissent(bench, arm, name, base)
    hardneg = bench.step(
        f"{name}/train/human-hardneg",
        lambda: train_arm(bench.engine, arm, ["human-hardneg"], _models(arm)).models[0].model_dir,
    )
    both = _both(bench, arm, name, dissent["path"], hardneg)
    models = {"human": human, "dissent": dissent, "human+dissent": both}
    composition = _composition(bench, drawn["source"], run)
    return {"drawn": drawn, "composition": composition, "labels": labels, "models": models}


def _both(bench: Bench, arm: PipelineConfig, name: str, curriculum: str, hardneg: str) -> dict:
    """``human+dissent@B``: ``human-hardneg``; with ``--then-human`` also the ``human`` recipe
    fine-tuned from ``curriculum`` (``dissent@B``'s chosen model) and, with ``--consensus``,
    from ``consensus@0``, their epochs chosen as ``human@B``'s. The option with the best
    validation NDCG@10."""
    assert bench.val is not None
    options: dict[str, dict[str, Any]] = {
        "human-hardneg": {"path": hardneg, "val": bench.val.ndcg(f"{name}-human-hardneg", hardneg)}
    }
    starts = {"dissent, then human": ("then-human", curriculum)}
    if "consensus@0/train" in bench.state:
        consensus = bench.state["consensus@0/train"]["result"]["path"]
        starts["consensus, then human"] = ("consensus-then-human", consensus)
    if bench.args.then_human:
        for option, (label, model) in starts.items():
            start = arm.model_copy(deep=True)
            start.train.base_model = model
            options[option] = _human(bench, start, name, HUMAN_EPOCHS, label)
    best = max(options, key=lambda k: options[k]["val"])
    epochs = options[best].get("chosen")
    chosen = f"{best}, {epochs}" if epochs else best
    return {
        "path": options[best]["path"],
        "val": options[best]["val"],
        "chosen": chosen,
        "options": options,
    }


def _composition(bench: Bench, source: str, run: int) -> dict:
    """What a budget's pairs are: queries, pairs per grade, and per disagreement set of the
    mining run (``not mined``: judged pairs no channel retrieved)."""
    labels = labels_of_splits(bench.engine, bench.config.splits, BUDGET_SPLITS, source)
    pairs = {(q, p): g for q, held in labels.items() for p, g in held}
    sets = {
        (r.query_id, r.product_id): r.candidate_set
        for r in candidate_rows(bench.engine, run, query_ids=sorted(labels))
    }
    return {
        "queries": len(labels),
        "grades": dict(sorted(Counter(str(g) for g in pairs.values()).items())),
        "sets": dict(sorted(Counter(sets.get(k, "not mined") for k in pairs).items())),
    }


def _plain(value: Any) -> Any:
    """A dataclass as plain JSON values (what the state file keeps)."""
    return json.loads(json.dumps(asdict(value), default=str))


def _scored(bench: Bench, arms: dict[str, dict], base: str, everything: str) -> dict:
    """Evaluation figures of the base, ``human@all`` and every arm's chosen models."""
    assert bench.eval is not None
    judged = bench.eval.queries.judged
    out: dict[str, Any] = {}
    for name, path in (("base", base), ("human@all", everything)):
        out[name] = {"path": path, **summary(bench.eval.per_query(name, path), judged)}
    if "consensus@0/train" in bench.state:
        path = bench.state["consensus@0/train"]["result"]["path"]
        figures = bench.eval.per_query("consensus@0", path)
        out["consensus@0"] = {
            "path": path,
            **summary(figures, judged),
            "p_vs_base": p_value(bench.eval.per_query("base", base), figures, "ndcg@10"),
        }
    for key, arm in arms.items():
        strategy, budget = key.split("@")
        reference = arms.get(f"random@{budget}", arm)["models"]["human"]["path"]
        ref = bench.eval.per_query(f"human@{budget} random", reference)
        for kind, model in arm["models"].items():
            figures = bench.eval.per_query(f"{kind}@{budget} {strategy}", model["path"])
            out[f"{kind}@{budget} {strategy}"] = {
                "path": model["path"],
                **summary(figures, judged),
                "p_vs_human": {m: p_value(ref, figures, m) for m in ("ndcg@10", "recall@100")},
                "p_vs_human_all": p_value(
                    bench.eval.per_query("human@all", everything), figures, "ndcg@10"
                ),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-budget.yaml")
    parser.add_argument("--budgets", nargs="+", default=["500", "2000"])
    parser.add_argument(
        "--strategies", nargs="+", choices=["random", "active"], default=["random", "active"]
    )
    parser.add_argument(
        "--dissent-recipe", action="append", choices=["staged", "mixed", "mnr-only"]
    )
    parser.add_argument(
        "--active-seed",
        type=int,
        help="the random budget that active choice grows from (default: the smallest of "
        "--budgets); one outside --budgets is drawn and its tier 1 trained, nothing more",
    )
    parser.add_argument(
        "--then-human",
        action="store_true",
        help="human+dissent@B also tries the human recipe fine-tuned from dissent@B's model "
        "(and, with --consensus, from consensus@0's)",
    )
    parser.add_argument(
        "--consensus",
        action="store_true",
        help="also train consensus@0, the base on the mining run's consensus alone (no label)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-queries", type=int, default=600)
    parser.add_argument("--val-catalog", type=int, default=10000)
    parser.add_argument("--output", type=Path, default=RESULTS / "budget-homedepot.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not (DATA / "train.csv").exists():
        print(f"skip: {DATA / 'train.csv'} not found (set DISSENT_HOMEDEPOT_DIR)")
        return 0
    config = load_config(args.config)
    bench = Bench(config, args)
    run, origin = _prepare(bench)
    base = base_model(config)
    everything = bench.step("all/train/human", lambda: _human_all(bench, origin))
    bench.step("all/pairs", lambda: _pairs(bench, origin))
    if args.consensus:
        trained = bench.step(
            "consensus@0/train",
            lambda: train_consensus(bench.engine, config, run, bench.folder / "consensus@0"),
        )
        assert bench.val is not None
        bench.val.ndcg("consensus@0", trained["path"])
    sizes = sorted(int(b) for b in args.budgets if b != "all")
    grow_from = args.active_seed or sizes[0]
    arms: dict[str, dict] = {}
    for strategy in args.strategies:
        chosen = sizes if strategy == "random" else [b for b in sizes if b > grow_from]
        for budget in chosen:
            name = f"{strategy}@{budget}"
            if strategy == "random":
                drawn = _draw(bench, budget, origin)
            else:
                seed_arm = _active_seed(bench, grow_from, origin)
                drawn = bench.step(
                    f"{name}/draw",
                    lambda b=budget, s=seed_arm: _plain(
                        draw_active(bench.engine, s, b, run, origin)
                    ),
                )
            arms[name] = _arm(bench, name, drawn, run, base)
            _write(bench, args, arms, base, everything)
    _write(bench, args, arms, base, everything)
    return 0


def _draw(bench: Bench, budget: int, origin: str) -> dict:
    """The random draw of ``budget`` pairs (one step, shared by its arm and active's seed)."""
    return bench.step(
        f"random@{budget}/draw",
        lambda: _plain(draw_random(bench.engine, bench.config, budget, bench.args.seed, origin)),
    )


def _active_seed(bench: Bench, budget: int, origin: str) -> PipelineConfig:
    """The random arm of ``budget`` that active choice grows from, its tier 1 trained: by the
    arm's own labels step where it ran, else by a step of its own (nothing else trained)."""
    drawn = _draw(bench, budget, origin)
    arm = arm_config(bench.config, bench.folder / f"random@{budget}", drawn["source"])
    if f"random@{budget}/labels" not in bench.state:
        bench.step(f"random@{budget}/tier1", lambda: _plain(train_tier(bench.engine, arm)))
    return arm


def _pairs(bench: Bench, origin: str) -> int:
    """Every tier-training and calibration pair of ``origin``: what ``human@all`` reads."""
    labels = labels_of_splits(bench.engine, bench.config.splits, BUDGET_SPLITS, origin)
    return sum(len(v) for v in labels.values())


def _human_all(bench: Bench, origin: str) -> str:
    arm = arm_config(bench.config, bench.folder / "all", origin)
    return train_arm(bench.engine, arm, ["human"], _models(arm)).models[0].model_dir


def _write(bench: Bench, args: argparse.Namespace, arms: dict, base: str, everything: str) -> None:
    data = {
        "command": command_line("bench.budget"),
        "config": str(args.config),
        "cores": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "precision": bench.config.precision,
        "validation": {
            "queries": len(bench.val.queries.judged.texts) if bench.val else 0,
            "products": len(bench.val.queries.products) if bench.val else 0,
        },
        "evaluation": {"queries": len(bench.eval.queries.judged.texts) if bench.eval else 0},
        "human_all_pairs": bench.state.get("all/pairs", {}).get("result"),
        "arms": arms,
        "scores": _scored(bench, arms, base, everything),
        "seconds": {k: v["seconds"] for k, v in bench.state.items()},
        "scoring_seconds": {
            "validation": bench.val.seconds() if bench.val else {},
            "evaluation": bench.eval.seconds() if bench.eval else {},
        },
    }
    write_results(args.output, data)
    write_page(data, args.output.with_suffix(".html"))


if __name__ == "__main__":
    sys.exit(main())
