"""Bulk inserts on SQLite and PostgreSQL: rows and JSON land; duplicates are skipped and counted."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func, insert, select

from store.bulk import bulk_insert, insert_ignore, skip_row_triggers
from store.ranked import RANKED_COLUMNS, encode, read_lists
from store.schema import Candidate, Judgment, Product, Query, Run


@pytest.fixture
def seeded(engine: Engine) -> tuple[Engine, int]:
    """Two queries, three products and a mining run (the rows the big tables point at)."""
    with engine.begin() as conn:
        conn.execute(
            insert(Query),
            [{"id": q, "external_id": f"q{q}", "text": f"query {q}"} for q in (1, 2)],
        )
        conn.execute(
            insert(Product),
            [
                {
                    "id": p,
                    "external_id": f"p{p}",
                    "title": f"product {p}",
                    "content_hash": f"h{p}",
                    "attributes": {},
                    "raw": {},
                }
                for p in (1, 2, 3)
            ],
        )
        run_id = conn.execute(insert(Run).values(flow="mine")).inserted_primary_key[0]  # type: ignore[index]
    return engine, int(run_id)


def test_bulk_insert_writes_rows_and_encodes_json(seeded: tuple[Engine, int]) -> None:
    engine, run = seeded
    rows = [
        (run, 1, 1, "easy_positive", {"bm25": 1, "dense": 3, "sets": ["easy_positive"]}),
        (run, 1, 2, "hard_negative", {"dense": 7, "sets": ["hard_negative", "token_negative"]}),
        (run, 2, 3, "random_negative", {}),
    ]
    with engine.begin() as conn:
        n = bulk_insert(
            conn,
            "candidates",
            ["run_id", "query_id", "product_id", "candidate_set", "ranks"],
            rows,
            json_columns=["ranks"],
        )
    assert n == 3
    with engine.connect() as conn:
        got = conn.execute(
            select(
                Candidate.query_id, Candidate.product_id, Candidate.candidate_set, Candidate.ranks
            ).order_by(Candidate.product_id)
        ).all()
    # JSON columns come back as objects, not as strings
    assert [tuple(r) for r in got] == [
        (1, 1, "easy_positive", {"bm25": 1, "dense": 3, "sets": ["easy_positive"]}),
        (1, 2, "hard_negative", {"dense": 7, "sets": ["hard_negative", "token_negative"]}),
        (2, 3, "random_negative", {}),
    ]


def test_bulk_insert_takes_a_generator_of_plain_rows(seeded: tuple[Engine, int]) -> None:
    engine, run = seeded
    rows = (
        (run, 1, channel, *encode(np.array([3, 1, 2]) + shift, [3.0, 2.0, 1.0 - shift]))
        for shift, channel in enumerate(("bm25", "dense"))
    )
    with engine.begin() as conn:
        n = bulk_insert(conn, "ranked_lists", RANKED_COLUMNS, rows)
    assert n == 2
    with engine.connect() as conn:  # binary columns survive COPY (PostgreSQL) and executemany
        lists = read_lists(conn, run)
        assert read_lists(conn, run, [2]) == {}
    assert {key: (ids.tolist(), s.tolist()) for key, (ids, s) in lists.items()} == {
        (1, "bm25"): ([3, 1, 2], [3.0, 2.0, 1.0]),
        (1, "dense"): ([4, 2, 3], [3.0, 2.0, 0.0]),
    }


def test_bulk_insert_of_nothing_is_zero(engine: Engine) -> None:
    columns = ["run_id", "query_id", "product_id", "candidate_set", "ranks"]
    with engine.begin() as conn:
        for json_columns in ((), ("ranks",)):
            assert bulk_insert(conn, "candidates", columns, [], json_columns=json_columns) == 0
            assert (
                bulk_insert(conn, "candidates", columns, iter([]), json_columns=json_columns) == 0
            )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Candidate)).scalar_one() == 0


def test_bulk_insert_joins_the_callers_transaction(seeded: tuple[Engine, int]) -> None:
    engine, run = seeded

    class Boom(Exception):
        pass

    with pytest.raises(Boom), engine.begin() as conn:
        bulk_insert(
            conn,
            "candidates",
            ["run_id", "query_id", "product_id", "candidate_set", "ranks"],
            [(run, 1, 1, "easy_positive", {})],
            json_columns=["ranks"],
        )
        raise Boom
    with engine.connect() as conn:  # rolled back with the caller's transaction
        assert conn.execute(select(func.count()).select_from(Candidate)).scalar_one() == 0


def judgment(product: int, attempt: int, error: str | None = None) -> dict[str, Any]:
    return {
        "query_id": 1,
        "product_id": product,
        "product_hash": f"h{product}",
        "tier": 1,
        "model_id": "m",
        "prompt_hash": "p",
        "attempt": attempt,
        "distribution": None if error else [0.1, 0.2, 0.3, 0.4],
        "grade": None if error else 3,
        "error": error,
    }


def test_insert_ignore_skips_rows_that_hit_a_unique_key(seeded: tuple[Engine, int]) -> None:
    engine, _ = seeded
    table = Judgment.__table__
    with engine.begin() as conn:
        insert_ignore(conn, table, [judgment(1, 1), judgment(2, 1)])
    with engine.begin() as conn:
        # (1, 1) and (2, 1) exist already (even with other values): only (1, 2) is new
        insert_ignore(
            conn, table, [judgment(1, 1, error="late"), judgment(1, 2, "x"), judgment(2, 1)]
        )
    with engine.connect() as conn:
        got = conn.execute(
            select(
                Judgment.product_id, Judgment.attempt, Judgment.error, Judgment.distribution
            ).order_by(Judgment.product_id, Judgment.attempt)
        ).all()
    assert [tuple(r) for r in got] == [
        (1, 1, None, [0.1, 0.2, 0.3, 0.4]),  # the first row stays as it was
        (1, 2, "x", None),
        (2, 1, None, [0.1, 0.2, 0.3, 0.4]),
    ]


@pytest.fixture
def counted(seeded: tuple[Engine, int], request: pytest.FixtureRequest) -> Engine:
    engine, _ = seeded
    return engine


def test_insert_ignore_returns_the_rows_inserted(counted: Engine) -> None:
    table = Judgment.__table__
    with counted.begin() as conn:
        assert insert_ignore(conn, table, []) == 0
        assert insert_ignore(conn, table, [judgment(1, 1), judgment(2, 1)]) == 2
        # two duplicates and one new row
        assert insert_ignore(conn, table, [judgment(1, 1), judgment(1, 2), judgment(2, 1)]) == 1
        # only duplicates
        assert insert_ignore(conn, table, [judgment(1, 2)]) == 0
    with counted.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Judgment)).scalar_one() == 3


def test_row_triggers_are_skipped_only_where_the_role_may_and_only_for_that_transaction(
    seeded: tuple[Engine, int],
) -> None:
    engine, run = seeded
    columns = ["run_id", "query_id", "product_id", "candidate_set", "ranks"]
    orphan = [(run, 1, 999, "easy_positive", "{}")]  # product 999 does not exist
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        skipped = skip_row_triggers(conn)
        assert skipped is postgres  # the tests' role is a superuser; SQLite has no such switch
        if skipped:
            bulk_insert(conn, "candidates", columns, orphan)  # no foreign-key check
            conn.rollback()
    with pytest.raises(Exception, match=r"(?i)foreign"), engine.begin() as conn:
        bulk_insert(conn, "candidates", columns, orphan)  # the next transaction checks again
    if postgres:  # a role that is no superuser and was granted nothing keeps its checks
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP ROLE IF EXISTS dissent_plain_role")
            conn.exec_driver_sql("CREATE ROLE dissent_plain_role")
            conn.exec_driver_sql("SET LOCAL ROLE dissent_plain_role")
            assert skip_row_triggers(conn) is False
            conn.exec_driver_sql("RESET ROLE")
            conn.exec_driver_sql("DROP ROLE dissent_plain_role")
