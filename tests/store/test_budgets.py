"""Label budgets: whole queries of the tier-training and calibration splits, nested, seeded,
written as a source of their own."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert, select

from core.errors import DissentError
from store.budgets import draw_budget, labels_of_splits, query_order, write_source
from store.schema import HumanLabel, Product, Query
from store.splits import SplitsConfig, split_of

SPLITS = SplitsConfig()


def _store(engine: Engine, queries: int = 60) -> None:
    """Query i holds 1 + i % 4 labels of source ``data``; query 1 also one of ``review``."""
    with engine.begin() as conn:
        conn.execute(
            insert(Product),
            [
                {"id": p, "external_id": f"p{p}", "title": f"t{p}", "content_hash": "h"}
                for p in range(1, 6)
            ],
        )
        conn.execute(
            insert(Query),
            [
                {"id": q, "external_id": f"query {q}", "text": f"query {q}"}
                for q in range(1, queries + 1)
            ],
        )
        rows = [
            {
                "query_id": q,
                "product_id": p,
                "grade": (q + p) % 4,
                "raw_label": "x",
                "source": "data",
            }
            for q in range(1, queries + 1)
            for p in range(1, 2 + q % 4)
        ]
        rows.append(
            {"query_id": 1, "product_id": 5, "grade": 3, "raw_label": "x", "source": "review"}
        )
        conn.execute(insert(HumanLabel), rows)


def test_budgets_are_nested_whole_queries_of_the_spendable_splits(engine: Engine) -> None:
    _store(engine)
    small = draw_budget(engine, SPLITS, 10, seed=0, source="data")
    large = draw_budget(engine, SPLITS, 40, seed=0, source="data")
    assert large[: len(small)] == small  # more labels, not other labels
    for drawn, budget in ((small, 10), (large, 40)):
        held = sum(len(q.pairs) for q in drawn)
        assert held >= budget and held - len(drawn[-1].pairs) < budget
        assert all(len(q.pairs) == 1 + q.query_id % 4 for q in drawn)  # whole queries
    every = query_order(engine, SPLITS, seed=0, source="data")
    splits = {split_of(f"query {q.query_id}", SPLITS.fractions, SPLITS.seed) for q in every}
    assert splits == {"train", "calibration"}  # never test or evaluation
    assert draw_budget(engine, SPLITS, None, seed=0, source="data") == every
    assert [q.query_id for q in draw_budget(engine, SPLITS, 40, seed=1, source="data")] != [
        q.query_id for q in large
    ]


def test_a_source_is_written_whole_and_replaced(engine: Engine) -> None:
    _store(engine)
    assert write_source(engine, "budget-a", {1: [(1, 2), (2, 0)], 2: [(1, 3)]}) == 3
    assert write_source(engine, "budget-a", {3: [(4, 1)]}) == 1
    with engine.connect() as conn:
        rows = conn.execute(
            select(HumanLabel.query_id, HumanLabel.product_id, HumanLabel.grade).where(
                HumanLabel.source == "budget-a"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(3, 4, 1)]
    every = ("train", "calibration", "test", "evaluation")
    assert labels_of_splits(engine, SPLITS, every, "budget-a") == {3: [(4, 1)]}
    assert labels_of_splits(engine, SPLITS, every, "review") == {1: [(5, 3)]}  # left alone


def test_impossible_budgets_are_refused(engine: Engine) -> None:
    with pytest.raises(DissentError, match="ingest labels first"):
        draw_budget(engine, SPLITS, 10, seed=0)
    _store(engine)
    with pytest.raises(DissentError, match="at least 1 pair"):
        draw_budget(engine, SPLITS, 0, seed=0)
