"""The budget curve's label-free point: a retriever trained on the channels' consensus alone.

``consensus@0`` answers what a team with no human label at all gets from Dissent's mining:
the base model trained with MNR on triplets read off one mining run, with no tier 1, no
cascade grade and no human label —

- **positives**: for each mined query, its ``per_query`` easy positives (every channel
  retrieved them) with the best summed rank over the channels;
- **negatives**: each positive with one of the same query's hard negatives (exactly one
  channel ranked it), drawn seeded; a query with none keeps the pair and MNR's in-batch
  negatives alone;
- at most ``train.max_examples_per_stage`` rows, one pass per ``train.epochs``, as every
  curriculum stage trains (:func:`retriever.trainer.train_stage`).

If the curriculum's gain at a small budget is the channels' agreement rather than tier 1's
grades, this arm shows it without spending a label. Evaluation queries are never mined, so
they never reach these rows.
"""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import Engine, select

from flows.config import PipelineConfig
from retriever.losses.base import Row
from retriever.paths import base_model
from retriever.rows import capped
from retriever.trainer import load_model, train_stage
from store.catalog import load_products, product_text
from store.schema import Candidate, Query

__all__ = ["consensus_rows", "train_consensus"]

POSITIVES_PER_QUERY = 2
"""Easy positives per query (those with the best summed rank)."""


def consensus_rows(
    engine: Engine, config: PipelineConfig, mining_run: int, per_query: int = POSITIVES_PER_QUERY
) -> list[Row]:
    """(query text, positive text, negative text) rows of ``mining_run`` (module docstring);
    (query text, positive text) where the query has no hard negative."""
    stmt = (
        select(Candidate.query_id, Candidate.product_id, Candidate.candidate_set, Candidate.ranks)
        .where(Candidate.run_id == mining_run)
        .where(Candidate.candidate_set.in_(("easy_positive", "hard_negative")))
        .order_by(Candidate.query_id, Candidate.product_id)
    )
    positives: dict[int, list[tuple[float, int]]] = {}
    negatives: dict[int, list[int]] = {}
    with engine.connect() as conn:
        for qid, pid, kind, ranks in conn.execute(stmt):
            if kind == "easy_positive":
                # a channel's rank per channel name ("sets" lists the sets it qualified for)
                summed = sum(r for r in (ranks or {}).values() if isinstance(r, int | float))
                positives.setdefault(qid, []).append((summed, pid))
            else:
                negatives.setdefault(qid, []).append(pid)
        queries = dict(conn.execute(select(Query.id, Query.text)).tuples().all())
    description = config.curriculum.use_description
    texts = {p.id: product_text(p, description=description) for p in load_products(engine)}
    rng = random.Random(config.train.seed)
    rows: list[Row] = []
    for qid in sorted(positives):
        for _, pid in sorted(positives[qid])[:per_query]:
            hard = negatives.get(qid)
            if hard:
                rows.append((queries[qid], texts[pid], texts[rng.choice(hard)]))
            else:
                rows.append((queries[qid], texts[pid]))
    return capped(rows, config.train.max_examples_per_stage, rng)


def train_consensus(
    engine: Engine, config: PipelineConfig, mining_run: int, output: Path
) -> dict[str, object]:
    """Train the base model on :func:`consensus_rows` with MNR into ``output``; its folder,
    rows and mean loss."""
    rows = consensus_rows(engine, config, mining_run)
    model = load_model(base_model(config), config.train.max_length)
    loss = train_stage(model, rows, "mnr", config, "consensus")
    output.mkdir(parents=True, exist_ok=True)
    model.save(str(output))
    return {
        "path": str(output),
        "rows": len(rows),
        "triplets": sum(len(r) == 3 for r in rows),
        "loss": round(loss, 4),
    }
