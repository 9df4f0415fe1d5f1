"""Shared fixtures: real databases (a SQLite file and a PostgreSQL server), data paths."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from store.db import open_store
from store.schema import Base

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Prefect keeps its local database and settings here: one fresh home per test session.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="dissent-prefect-"))

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
HOMEDEPOT = Path(os.environ.get("DISSENT_HOMEDEPOT_DIR", ROOT.parent / "shared/data/homedepot"))
POSTGRES_URL = os.environ.get(
    "DISSENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped at the end.

    Skips when no server answers, except in CI (``CI`` set), where that is a failure.
    """
    admin_url = make_url(POSTGRES_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is required in CI: {exc}")
        pytest.skip(
            f"no PostgreSQL at {POSTGRES_URL} ({type(exc).__name__}); set DISSENT_TEST_POSTGRES_URL"
        )
    name = f"dissent_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = open_store(postgres_url)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"truncate {tables} restart identity cascade"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty store: once on a SQLite file, once on PostgreSQL."""
    if request.param == "sqlite":
        eng = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        yield eng
        eng.dispose()
    else:
        eng = request.getfixturevalue("_postgres_engine")
        _truncate(eng)
        yield eng


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    eng = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield eng
    eng.dispose()


@pytest.fixture
def homedepot_csv() -> Path:
    path = HOMEDEPOT / "train.csv"
    if not path.exists():
        pytest.skip(f"Home Depot data not found at {path} (set DISSENT_HOMEDEPOT_DIR)")
    return path
