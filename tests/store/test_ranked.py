"""Ranked lists: encoding, the rows of a batch, and migration 0003 converting old retrievals."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, create_engine, insert, make_url, text

from store.db import make_engine, upgrade
from store.ranked import decode, encode, list_rows, read_lists, retrievals
from store.schema import Product, Query, Run


def test_encode_refuses_mismatched_lists() -> None:
    with pytest.raises(ValueError, match="as many scores as ids"):
        encode([1, 2], [0.5])


def test_list_rows_drop_padding_and_keep_order() -> None:
    ids = np.array([[5, 3, -1], [-1, -1, -1]])
    scores = np.array([[2.0, 1.0, -np.inf], [-np.inf] * 3])
    rows = list_rows(9, [11, 12], {"bm25": (ids, scores)})
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [(9, 11, "bm25", 2), (9, 12, "bm25", 0)]
    got = [decode(r[4], r[5]) for r in rows]
    assert got[0][0].tolist() == [5, 3] and got[0][1].tolist() == [2.0, 1.0]
    assert got[1][0].size == 0 and got[1][1].size == 0


@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database with no tables (a fresh PostgreSQL database, dropped after)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    admin_url = make_url(request.getfixturevalue("postgres_url"))
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"dissent_migrate_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    engine = make_engine(admin_url.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def test_migration_0003_converts_retrievals_to_lists_and_back(unmigrated: Engine) -> None:
    engine = unmigrated
    upgrade(engine, "0002")
    old = [  # (run, query, channel, rank, product, score), written out of order
        (1, 1, "dense", 2, 30, 0.25),
        (1, 1, "bm25", 1, 10, 9.5),
        (1, 1, "dense", 1, 20, 0.75),
        (1, 2, "bm25", 1, 20, 3.0),
        (1, 1, "bm25", 2, 30, 4.0),
    ]
    with engine.begin() as conn:
        conn.execute(insert(Run), [{"id": 1, "flow": "mine"}])
        conn.execute(
            insert(Query), [{"id": q, "external_id": f"q{q}", "text": "t"} for q in (1, 2)]
        )
        conn.execute(
            insert(Product),
            [
                {
                    "id": p,
                    "external_id": f"p{p}",
                    "title": "t",
                    "content_hash": "h",
                    "attributes": {},
                    "raw": {},
                }
                for p in (10, 20, 30)
            ],
        )
        conn.execute(
            text(
                "INSERT INTO retrievals (run_id, query_id, channel, rank, product_id, score) "
                "VALUES (:r, :q, :c, :k, :p, :s)"
            ),
            [dict(zip("rqckps", row, strict=True)) for row in old],
        )
    upgrade(engine, "0003")
    with engine.connect() as conn:
        lists = read_lists(conn, 1)
        tables = set(conn.dialect.get_table_names(conn))
    assert "retrievals" not in tables
    assert sorted(retrievals(lists)) == sorted((q, c, k, p, s) for _, q, c, k, p, s in old)
    assert lists[(1, "bm25")][0].tolist() == [10, 30]  # best first

    from alembic import command

    from store.db import _alembic_config

    command.downgrade(_alembic_config(engine), "0002")
    with engine.connect() as conn:
        back = conn.execute(
            text("SELECT run_id, query_id, channel, rank, product_id, score FROM retrievals")
        ).all()
        tables = set(conn.dialect.get_table_names(conn))
    assert "ranked_lists" not in tables
    assert sorted(tuple(r) for r in back) == sorted(old)
