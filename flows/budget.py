"""What ``B`` human labels buy: one budget's arms, from drawing the labels to a trained model.

A team that can label ``B`` pairs may train its retriever on them directly, or spend them on
Dissent (tier 1 trained on part, the cascade calibrated on the rest) and train on the
curriculum, or both. :mod:`bench.budget` runs this module's steps for every ``B`` and scores
the models; each step here is one call a benchmark or a user can make on its own:

- :func:`draw_random` writes a seeded draw of whole queries (:func:`store.budgets.draw_budget`)
  as a label source of its own, with the test split beside it (tier 1 is scored there, never
  trained or calibrated on it); :func:`draw_active` grows a smaller budget's source by the
  pairs :func:`review.queue.propose` asks for, among the pairs a label exists for;
- :func:`dissent_labels` trains tier 1 on the source's tier-training pairs, calibrates on its
  calibration pairs — **the division is the splits'**: of the queries drawn, those the split
  hash puts in tier-training (40% of labelled queries by default) train, those in calibration
  (20%) calibrate, about two to one — then annotates the mining run and builds and exports the
  curriculum, all under an arm folder of its own;
- :func:`train_arm` trains retriever recipes on the arm's human labels and export.

Every function reads the pipeline config and changes only a copy (:func:`arm_config`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from annotator.annotating import annotate
from annotator.backends.registry import backend_class
from annotator.calibrating import calibrate
from annotator.pairs import CandidateRow, as_pairs, candidate_rows, with_product_fields
from annotator.tiers import open_tiers
from annotator.training import train_tier
from curriculum.build import build_curriculum
from curriculum.export import export_curriculum
from flows.config import PipelineConfig
from prompts import load_prompt
from retriever.recipes import RECIPES, RecipeTable
from retriever.rows import HumanLabels
from retriever.training import TrainReport, train_recipes
from review.queue import propose
from store.budgets import BUDGET_SPLITS, draw_budget, labels_of_splits, write_source
from store.schema import Query
from store.splits import split_of

__all__ = [
    "ArmLabels",
    "Drawn",
    "arm_config",
    "dissent_labels",
    "draw_active",
    "draw_random",
    "human_labels",
    "train_arm",
]

log = logging.getLogger(__name__)


@dataclass
class Drawn:
    """A budget's labels as written: the source, pairs and queries, and their division."""

    source: str
    pairs: int
    queries: int
    per_split: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def draw_random(
    engine: Engine, config: PipelineConfig, budget: int | None, seed: int, origin: str
) -> Drawn:
    """Write ``budget-random-<B>`` (``all`` for None): seeded whole queries of the
    tier-training and calibration splits of ``origin`` until ``budget`` pairs, plus ``origin``'s
    test split."""
    started = time.perf_counter()
    queries = draw_budget(engine, config.splits, budget, seed, origin)
    drawn = {q.query_id: q.pairs for q in queries}
    return _write(engine, config, f"budget-random-{budget or 'all'}", drawn, origin, started)


def _write(
    engine: Engine,
    config: PipelineConfig,
    source: str,
    drawn: dict[int, list[tuple[int, int]]],
    origin: str,
    started: float,
) -> Drawn:
    """Write ``drawn`` and ``origin``'s test split as ``source``."""
    test = labels_of_splits(engine, config.splits, ("test",), origin)
    write_source(engine, source, {**test, **drawn})
    pairs = sum(len(v) for v in drawn.values())
    per_split = _per_split(engine, config, drawn)
    log.info("%s: %d pairs of %d queries %s", source, pairs, len(drawn), per_split)
    return Drawn(source, pairs, len(drawn), per_split, time.perf_counter() - started)


def _per_split(
    engine: Engine, config: PipelineConfig, drawn: dict[int, list[tuple[int, int]]]
) -> dict[str, int]:
    """Pairs of ``drawn`` per split: tier 1 trains on ``train``'s, calibration reads the rest."""
    with engine.connect() as conn:
        keys = {int(q): str(key) for q, key in conn.execute(select(Query.id, Query.external_id))}
    out = dict.fromkeys(BUDGET_SPLITS, 0)
    for q, pairs in drawn.items():
        split = split_of(keys[q], config.splits.fractions, config.splits.seed)
        out[split] = out.get(split, 0) + len(pairs)
    return out


def arm_config(config: PipelineConfig, folder: Path, source: str) -> PipelineConfig:
    """A copy of ``config`` whose stages read the labels of ``source`` and write under
    ``folder``: tier 1 in ``tier1``, the calibration report in ``calibration``, the export in
    ``export``, retrievers in ``models``."""
    arm = config.model_copy(deep=True)
    arm.annotation.label_source = source
    trainable = [t for t in arm.annotation.tiers if backend_class(t).trainable]
    if trainable:
        trainable[0].model = str(folder / "tier1")
    arm.export.output_dir = folder / "export"
    arm.train.output_dir = folder / "models"
    return arm


def draw_active(
    engine: Engine,
    seed_arm: PipelineConfig,
    budget: int,
    mining_run: int,
    origin: str,
    strategy: str = "active",
) -> Drawn:
    """Write ``budget-<strategy>-<B>``: the labels of ``seed_arm``'s source plus the pairs
    :func:`review.queue.propose` asks for next, up to ``budget`` pairs in all.

    A simulation on a labelled dataset: a label is revealed only for the pairs the strategy
    picks, so it chooses among the mining run's candidates that ``origin`` judged in the
    tier-training and calibration splits. Tier 1 of ``seed_arm`` (trained on the smaller
    budget) grades those candidates first, so that ``active`` ranks by its uncertainty and
    names its cells by its grade (the most likely one, uncalibrated): nothing a larger budget
    learned reaches the choice.
    """
    started = time.perf_counter()
    splits = seed_arm.splits
    source = seed_arm.annotation.label_source
    held = labels_of_splits(engine, splits, BUDGET_SPLITS, source)
    labelled = {(q, p) for q, pairs in held.items() for p, _ in pairs}
    grade_of = {
        (q, p): g
        for q, pairs in labels_of_splits(engine, splits, BUDGET_SPLITS, origin).items()
        for p, g in pairs
    }
    pool = _judged_candidates(engine, mining_run, grade_of.keys() - labelled)
    distributions = _tier1_distributions(engine, seed_arm, pool)
    # the cells are named by this tier 1's grades: the store's cascade labels may be another
    # arm's (a larger budget annotated earlier in the same store)
    grades = {pair: max(range(len(d)), key=d.__getitem__) for pair, d in distributions.items()}
    proposals = propose(
        engine,
        seed_arm,
        max(0, budget - len(labelled)),
        strategy=strategy,  # type: ignore[arg-type]
        mining_run=mining_run,
        among={(r.query_id, r.product_id) for r in pool},
        labelled=labelled,
        distributions=distributions,
        grades=grades,
    )
    drawn = {q: list(pairs) for q, pairs in held.items()}
    for p in proposals:
        drawn.setdefault(p.query_id, []).append((p.product_id, grade_of[p.query_id, p.product_id]))
    log.info("%s: %d of %d judged candidates proposed", strategy, len(proposals), len(pool))
    return _write(engine, seed_arm, f"budget-{strategy}-{budget}", drawn, origin, started)


def _judged_candidates(
    engine: Engine, mining_run: int, judged: set[tuple[int, int]]
) -> list[CandidateRow]:
    """The run's candidates among ``judged`` (read for the judged queries only)."""
    rows = candidate_rows(engine, mining_run, query_ids=sorted({q for q, _ in judged}))
    return [r for r in rows if (r.query_id, r.product_id) in judged]


def _tier1_distributions(
    engine: Engine, config: PipelineConfig, rows: Sequence[CandidateRow]
) -> dict[tuple[int, int], list[float]]:
    """Tier 1's grade distribution for each pair (raw, before calibration), nothing recorded."""
    prompt = load_prompt()
    out: dict[tuple[int, int], list[float]] = {}
    with open_tiers(config) as specs:
        backend = specs[0].backend
        for start in range(0, len(rows), 1024):
            pairs = with_product_fields(engine, as_pairs(engine, rows[start : start + 1024]))
            for pair, answer in zip(pairs, backend.grade(pairs, prompt), strict=True):
                if answer.ok and answer.distribution is not None:
                    out[pair.query_id, pair.product_id] = list(answer.distribution)
    return out


@dataclass
class ArmLabels:
    """What Dissent made of one budget's labels: each step's figures and seconds."""

    tier1: dict[str, Any]
    calibration: dict[str, Any]
    annotation: dict[str, Any]
    curriculum: dict[str, Any]
    seconds: dict[str, float]


def dissent_labels(engine: Engine, arm: PipelineConfig, mining_run: int) -> ArmLabels:
    """Train tier 1 on ``arm``'s label source, calibrate, annotate ``mining_run``, build and
    export its curriculum (:func:`arm_config` says where each goes)."""
    seconds: dict[str, float] = {}

    def timed(name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds[name] = round(time.perf_counter() - t0, 1)
        log.info("%s: %.0f s", name, seconds[name])
        return result

    trained = timed("train_tier1", train_tier, engine, arm)
    outcome, _ = timed(
        "calibrate",
        calibrate,
        engine,
        arm,
        Path(str(arm.export.output_dir)).parent / "calibration",
        enforce_gate=False,
    )
    graded = timed("annotate", annotate, engine, arm, mining_run=mining_run)
    built = timed("curriculum", build_curriculum, engine, arm, mining_run=mining_run)
    timed("export", export_curriculum, engine, arm, curriculum_run=built.run_id)
    c = outcome.cascade
    return ArmLabels(
        tier1={k: v for k, v in asdict(trained).items() if k != "combiner"},
        calibration={
            "splits": outcome.splits,
            "route": c.route,
            "test_qwk": c.test.qwk,
            "test_qwk_interval": c.qwk_interval,
            "test_pairs": c.test.n,
            "cv_score": c.cv_score,
            "cv_score_human": c.cv_score_human,
            "random_relevant": c.random_relevant,
        },
        annotation={"pairs": graded.pairs, "failed": graded.failed, "cascade": graded.cascade_id},
        curriculum={"run": built.run_id, "stages": built.per_stage_split},
        seconds=seconds,
    )


def human_labels(source: str) -> HumanLabels:
    """The ``human`` recipes' labels in a budget arm: every pair the budget drew."""
    return HumanLabels(source, BUDGET_SPLITS)


def train_arm(
    engine: Engine,
    arm: PipelineConfig,
    recipes: Sequence[str],
    output: Path,
    table: RecipeTable = RECIPES,
) -> TrainReport:
    """Train ``recipes`` (names in ``table``) into ``output`` on ``arm``'s human labels
    (:func:`human_labels`) and its export."""
    return train_recipes(
        engine,
        arm,
        recipes=list(recipes),
        output_dir=output,
        human=human_labels(str(arm.annotation.label_source)),
        table=table,
    )
