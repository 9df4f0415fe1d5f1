"""A small hand-made store for the review page: queries, products, one mining run's
candidates, tier 1's distributions and the cascade's grades."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from flows.config import PipelineConfig, load_config
from store.ledger import Flow, recorded_run
from store.schema import Candidate, HumanLabel, Judgment, Label, Product, Query

SETS = ("easy_positive", "hard_positive", "hard_negative", "token_negative", "random_negative")
QUERIES = 12
PRODUCTS = 30


def build_store(engine: Engine) -> int:
    """Queries 1–12, products 1–30; every query has five candidates, one per set; tier 1 and
    the cascade graded the candidates of odd queries; returns the mining run."""
    with engine.begin() as conn:
        conn.execute(
            insert(Query),
            [
                {"id": q, "external_id": f"q{q}", "text": f"query {q}"}
                for q in range(1, QUERIES + 1)
            ],
        )
        conn.execute(
            insert(Product),
            [
                {
                    "id": p,
                    "external_id": f"p{p}",
                    "title": f"product <b>{p}</b>",
                    "brand": "Acme",
                    "content_hash": f"h{p}",
                    "attributes": {"colour": "red"},
                    "raw": {},
                }
                for p in range(1, PRODUCTS + 1)
            ],
        )
    with recorded_run(engine, Flow.MINE, {}, fingerprint="f") as run:
        run_id = run.id
    candidates, judgments, labels = [], [], []
    for q in range(1, QUERIES + 1):
        for k, name in enumerate(SETS):
            p = (q * 5 + k) % PRODUCTS + 1
            candidates.append(
                {
                    "run_id": run_id,
                    "query_id": q,
                    "product_id": p,
                    "candidate_set": name,
                    "ranks": {},
                }
            )
            if q % 2:
                sure = k % 2 == 0  # sets 0, 2, 4 answered with confidence, 1 and 3 unsure
                dist = [0.97, 0.01, 0.01, 0.01] if sure else [0.25, 0.25, 0.25, 0.25]
                judgments.append(
                    {
                        "query_id": q,
                        "product_id": p,
                        "product_hash": f"h{p}",
                        "tier": 1,
                        "model_id": "m",
                        "prompt_hash": "x",
                        "attempt": 1,
                        "distribution": dist,
                        "grade": 0,
                    }
                )
                labels.append(
                    {
                        "query_id": q,
                        "product_id": p,
                        "product_hash": f"h{p}",
                        "cascade_id": "c",
                        "grade": 3 - k % 4,
                        "status": "graded",
                    }
                )
    with engine.begin() as conn:
        conn.execute(insert(Candidate), candidates)
        conn.execute(insert(Judgment), judgments)
        conn.execute(insert(Label), labels)
    return run_id


@pytest.fixture
def settings(tmp_path: Path) -> PipelineConfig:
    cfg = load_config(None, environ={})
    cfg.workdir = tmp_path / "work"
    cfg.splits.fractions = (0.5, 0.5, 0.0, 0.0)  # no evaluation queries: all may be queued
    return cfg


@pytest.fixture
def store(engine: Engine) -> Engine:
    build_store(engine)
    return engine


def human_labels(engine: Engine) -> list[tuple[int, int, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(HumanLabel.query_id, HumanLabel.product_id, HumanLabel.grade, HumanLabel.source)
        )
        return sorted((q, p, g, s) for q, p, g, s in rows)
