"""The budget curve's label-free arm: rows read off a mining run alone, and a real model."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, insert

from bench.budget_consensus import consensus_rows, train_consensus
from flows.config import load_config
from store.ledger import Flow, recorded_run
from store.schema import Candidate, Product, Query


def _mined(engine: Engine) -> int:
    """Query 1: three easy positives (summed ranks 3, 30, 12) and two hard negatives; query 2:
    one easy positive, no hard negative; query 3: a hard positive only."""
    with engine.begin() as conn:
        conn.execute(
            insert(Query),
            [{"id": q, "external_id": f"q{q}", "text": f"query {q}"} for q in (1, 2, 3)],
        )
        conn.execute(
            insert(Product),
            [
                {"id": p, "external_id": f"p{p}", "title": f"product {p}", "content_hash": f"h{p}"}
                for p in range(1, 9)
            ],
        )
    with recorded_run(engine, Flow.MINE, {}, fingerprint="f") as run:
        run_id = run.id
    rows = [
        (1, 1, "easy_positive", {"bm25": 1, "dense": 1, "catalog": 1, "sets": ["easy_positive"]}),
        (1, 2, "easy_positive", {"bm25": 10, "dense": 10, "catalog": 10}),
        (1, 3, "easy_positive", {"bm25": 2, "dense": 5, "catalog": 5}),
        (1, 4, "hard_negative", {"dense": 3}),
        (1, 5, "hard_negative", {"bm25": 7}),
        (2, 6, "easy_positive", {"bm25": 4, "dense": 2, "catalog": 9}),
        (3, 7, "hard_positive", {"bm25": 1}),
        (3, 8, "token_negative", {}),
    ]
    with engine.begin() as conn:
        conn.execute(
            insert(Candidate),
            [
                {"run_id": run_id, "query_id": q, "product_id": p, "candidate_set": s, "ranks": r}
                for q, p, s, r in rows
            ],
        )
    return int(run_id)


def test_the_best_agreed_positives_each_with_a_hard_negative(sqlite_engine: Engine) -> None:
    run = _mined(sqlite_engine)
    config = load_config(None, {})
    rows = consensus_rows(sqlite_engine, config, run)
    # query 1: the two best summed ranks (products 1 and 3), each with one of its hard
    # negatives; query 2: its one positive as a pair; query 3 has no easy positive
    assert [r[:2] for r in rows] == [
        ("query 1", "product 1"),
        ("query 1", "product 3"),
        ("query 2", "product 6"),
    ]
    assert {r[2] for r in rows[:2]} <= {"product 4", "product 5"} and len(rows[2]) == 2
    assert consensus_rows(sqlite_engine, config, run) == rows  # seeded
    config.train.max_examples_per_stage = 2
    assert len(consensus_rows(sqlite_engine, config, run)) == 2


def test_a_real_model_is_trained_and_saved(sqlite_engine: Engine, tmp_path: Path) -> None:
    run = _mined(sqlite_engine)
    config = load_config(None, {})
    config.train.batch_size = 2
    trained = train_consensus(sqlite_engine, config, run, tmp_path / "consensus")
    assert trained["rows"] == 3 and trained["triplets"] == 2
    assert (tmp_path / "consensus" / "modules.json").is_file()
    assert isinstance(trained["loss"], float) and trained["loss"] > 0
