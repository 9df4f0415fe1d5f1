"""A throwaway PostgreSQL database for a benchmark: created, handed over, dropped.

with scratch_postgres(DEFAULT_POSTGRES) as url:
    if url is not None:  # None: no server there; the benchmark skips PostgreSQL
        ...
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

__all__ = ["DEFAULT_POSTGRES", "scratch_postgres"]

DEFAULT_POSTGRES = os.environ.get(
    "DISSENT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def scratch_postgres(server: str) -> Iterator[str | None]:
    """The URL of a fresh database on ``server`` (dropped afterwards), or None, with a line
    saying why, when the server cannot create one: a benchmark of an absent server is skipped,
    not failed."""
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"dissent_bench_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
    except Exception as exc:
        print(f"skip postgresql: {exc.__class__.__name__}")
        yield None
        return
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()
