"""Engines, sessions and migrations.

The store is a SQLite file by default (WAL mode, foreign keys on) and PostgreSQL in
production: give a ``postgresql+psycopg://user@host:5432/db`` URL (``pip install
dissent[postgres]``). The schema is created and upgraded by Alembic migrations shipped in
``store/migrations``; :func:`open_store` applies them, so every entry point can just call it.

Example:
    >>> from sqlalchemy import text
    >>> engine = open_store("sqlite://")  # in memory; a file: "sqlite:///dissent.db"
    >>> with session_scope(engine) as session:
    ...     session.execute(text("select count(*) from products")).scalar()
    0
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import Field
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError
from sqlalchemy.orm import Session, sessionmaker

from core.config import Section
from core.errors import StoreError

__all__ = [
    "MIGRATIONS_DIR",
    "StoreConfig",
    "display_url",
    "make_engine",
    "open_store",
    "schema_revision",
    "session_scope",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StoreConfig(Section):
    """The ``store`` section: where the state lives."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file `dissent.db` in `workdir`.",
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Several workers may write to one file; wait for the lock instead of failing at once.
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# PostgreSQL: give up on a server that accepts the connection but never answers.
CONNECT_TIMEOUT_S = 10
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def display_url(url: str) -> str:
    """``url`` as it may be printed: any password replaced by ``***``.

    Example:
        >>> display_url("postgresql+psycopg://dissent:s3cret@db:5432/dissent")
        'postgresql+psycopg://dissent:***@db:5432/dissent'
        >>> display_url("sqlite:///dissent.db")
        'sqlite:///dissent.db'
    """
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD.sub(r"\1***@", url)


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` (no schema changes).

    A SQLite URL's parent directory is created when missing; SQLite connections run in WAL
    mode with foreign keys enforced.

    Raises:
        StoreError: the URL is malformed or names a driver that is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"store URL {display_url(url)!r} is not a database URL; expected e.g. "
            "'sqlite:///dissent.db' or 'postgresql+psycopg://user@host:5432/db'"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _sqlite_folder(Path(parsed.database).expanduser())
        engine = create_engine(parsed, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        try:
            return create_engine(
                parsed, pool_pre_ping=True, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
            )
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"the PostgreSQL driver is missing ({exc.name}); install it with "
                "`pip install 'dissent[postgres]'`"
            ) from exc
    raise StoreError(
        f"store URL {display_url(url)!r}: backend {backend!r} is not supported; use sqlite or "
        "postgresql"
    )


def _sqlite_folder(database: Path) -> None:
    """Create the folder of a SQLite file, or say why it cannot be (and what to change)."""
    if database.is_dir():
        raise StoreError(f"SQLite store {database} is a directory; give a file path in store.url")
    try:
        database.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"cannot create the folder of SQLite store {database} ({exc.strerror}); "
            "point store.url at a writable path"
        ) from exc


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` (default: the newest).

    Raises:
        StoreError: the database cannot be reached.
    """
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), revision)
    except DatabaseError as exc:
        raise StoreError(f"cannot open the store at {_shown(engine)}: {_one_line(exc)}") from exc


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _one_line(exc: DatabaseError) -> str:
    """The driver's message on one line (libpq's span several)."""
    return " ".join(str(exc.orig).split())


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@cache
def schema_revision() -> str:
    """The newest migration's revision id: the schema this code writes."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(
        _alembic_config(create_engine("sqlite://"))
    ).get_current_head()
    assert head is not None, "store/migrations has no revisions"
    return head


def open_store(url: str) -> Engine:
    """Return an engine for ``url`` with the schema migrated to the newest revision."""
    engine = make_engine(url)
    try:
        at = current_revision(engine)
    except DatabaseError as exc:  # OperationalError included: unreachable, or not a database
        raise StoreError(f"cannot open the store at {_shown(engine)}: {_one_line(exc)}") from exc
    if at != schema_revision():
        log.info("migrating store %s from %s to %s", engine.url, at, schema_revision())
        upgrade(engine)
    return engine


def table_names(engine: Engine) -> list[str]:
    """The tables that exist in the database (for diagnostics and tests)."""
    return sorted(inspect(engine).get_table_names())


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
