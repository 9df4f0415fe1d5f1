from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from core.errors import StoreError
from store.db import current_revision, make_engine, open_store, table_names
from store.schema import Base

TABLES = [
    "calibrations",
    "candidates",
    "curriculum_examples",
    "human_labels",
    "judgments",
    "labels",
    "products",
    "queries",
    "ranked_lists",
    "runs",
]


def test_migrations_create_every_table(engine: Engine) -> None:
    assert set(TABLES) <= set(table_names(engine))
    assert current_revision(engine) is not None


def _schema_object(name: str | None, type_: str, *_: object) -> bool:
    # The catalog channel's full-text tables (FTS5 / tsvector, migration 0002) have types
    # that exist on one dialect each, so they are not models.
    return not (type_ == "table" and (name or "").startswith("catalog_search"))


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _schema_object}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_open_store_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'b.db'}"
    first = open_store(url)
    revision = current_revision(first)
    second = open_store(url)
    assert current_revision(second) == revision


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("pragma journal_mode")).scalar() == "wal"
        assert conn.execute(text("pragma foreign_keys")).scalar() == 1


def test_bad_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="not a database URL"):
        make_engine("no such thing")
    with pytest.raises(StoreError, match="not supported"):
        make_engine("mysql://localhost/x")


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot open the store"):
        open_store("postgresql+psycopg://nobody@127.0.0.1:1/nothing")
