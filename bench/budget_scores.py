"""Scoring the label-budget models: validation queries for choices, evaluation queries once.

- **Validation** (:func:`validation_set`): a seeded sample of the *test* split's queries —
  mined, never trained or calibrated on by any arm (tier 1 is only scored there) — retrieving
  from every product a human judged for them plus a seeded sample of the rest of the catalog.
  Stages, epochs and recipes are chosen here, never on the evaluation split.
- **Evaluation** (:func:`evaluation_set`): the evaluation split's queries over the whole
  catalog, as ``dissent evaluate`` scores them.

A :class:`Scorer` keeps each model's per-query figures on disk (``<folder>/<name>.json``),
keyed by the model folder and its weights' modification time, so a resumed benchmark scores
nothing twice; :func:`summary` turns them into means, bootstrap intervals and segments, and
:func:`p_value` tests two models on the same queries.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from flows.config import PipelineConfig
from retriever.evaluation import (
    Judged,
    bootstrap_intervals,
    judged_queries,
    paired_p_values,
    query_scores,
    summarise,
)
from store.budgets import labels_of_splits
from store.catalog import ProductDoc, load_products

__all__ = ["Scorer", "evaluation_set", "p_value", "summary", "validation_set"]


@dataclass(frozen=True)
class QuerySet:
    """Queries with their judgments, and the products a model retrieves from."""

    name: str
    judged: Judged
    products: list[ProductDoc]


def validation_set(
    engine: Engine, config: PipelineConfig, origin: str, queries: int, catalog: int, seed: int
) -> QuerySet:
    """``queries`` seeded test-split queries of ``origin``; their judged products plus
    ``catalog`` seeded others."""
    test = labels_of_splits(engine, config.splits, ("test",), origin)
    chosen = sorted(random.Random(seed).sample(sorted(test), min(queries, len(test))))
    judged = judged_queries(engine, config, chosen)
    products = load_products(engine)
    needed = {p for g in judged.grades.values() for p in g}
    rest = [p for p in products if p.id not in needed]
    sample = {p.id for p in random.Random(seed + 1).sample(rest, min(catalog, len(rest)))}
    kept = [p for p in products if p.id in needed or p.id in sample]
    return QuerySet("validation", judged, kept)


def evaluation_set(engine: Engine, config: PipelineConfig) -> QuerySet:
    """The evaluation split's queries over the whole catalog."""
    return QuerySet("evaluation", judged_queries(engine, config), load_products(engine))


def _weights_time(path: str) -> float:
    files = [*Path(path).glob("*.safetensors"), *Path(path).glob("*.bin")]
    return max((f.stat().st_mtime for f in files), default=0.0)


class Scorer:
    """Per-query figures of models on one :class:`QuerySet`, kept under ``folder``."""

    def __init__(self, config: PipelineConfig, queries: QuerySet, folder: Path) -> None:
        self.config = config
        self.queries = queries
        self.folder = folder / queries.name
        self.folder.mkdir(parents=True, exist_ok=True)

    def per_query(self, name: str, path: str) -> dict[str, dict[str, float]]:
        """The model's per-query figures, scored once per model folder and weights."""
        file = self.folder / (re.sub(r"[^A-Za-z0-9@+.-]+", "_", name) + ".json")
        key = {"path": str(path), "weights": _weights_time(path)}
        if file.exists():
            kept = json.loads(file.read_text())
            if kept.get("key") == key:
                return dict(kept["per_query"])
        started = time.perf_counter()
        figures = query_scores(self.config, path, self.queries.judged, self.queries.products)
        seconds = round(time.perf_counter() - started, 1)
        file.write_text(json.dumps({"key": key, "seconds": seconds, "per_query": figures}))
        return figures

    def seconds(self) -> dict[str, float | None]:
        """Each kept model's scoring time (None where an earlier version did not record it)."""
        return {
            f.stem: json.loads(f.read_text()).get("seconds")
            for f in sorted(self.folder.glob("*.json"))
        }

    def ndcg(self, name: str, path: str) -> float:
        """Mean NDCG@10 of the model here."""
        values = self.per_query(name, path)["ndcg@10"].values()
        return float(sum(values) / max(1, len(values)))


def summary(per_query: dict[str, dict[str, float]], judged: Judged) -> dict[str, Any]:
    """Means, 95% bootstrap intervals and per-segment means of per-query figures."""
    overall, segments = summarise(per_query, judged)
    return {
        "overall": overall,
        "intervals": bootstrap_intervals(per_query),
        "segments": segments,
        "queries": len(next(iter(per_query.values()), {})),
    }


def p_value(
    reference: dict[str, dict[str, float]], other: dict[str, dict[str, float]], metric: str
) -> float | None:
    """Two-sided paired t-test of ``metric`` over the queries both were scored on."""
    return paired_p_values(reference, other).get(metric)
