"""Fast bulk inserts for the big tables (ranked lists, candidates, judgments).

ORM and Core inserts build one dict per row; mining writes millions of rows, so this goes to
the driver: ``COPY ... FROM STDIN`` on PostgreSQL (psycopg 3), ``executemany`` with tuples
elsewhere. It runs on the caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection

__all__ = ["bulk_insert", "insert_ignore", "json_text", "skip_row_triggers"]


def json_text(value: Any) -> str:
    """``value`` as compact JSON text for a JSON column written by :func:`bulk_insert`.

    orjson: about ten times faster than :func:`json.dumps` on the millions of small objects
    mining writes. NaN and infinities become ``null`` (JSON has no such numbers).

    Example:
        >>> json_text({"bm25": 1, "sets": ["easy_positive"]})
        '{"bm25":1,"sets":["easy_positive"]}'
    """
    return orjson.dumps(value).decode()


def bulk_insert(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    json_columns: Sequence[str] = (),
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns the row count.

    Values of ``json_columns`` are serialised to JSON here (:func:`json_text`; rows whose JSON
    is already text need no ``json_columns``); the table and column names are
    trusted identifiers from the schema, never user input.
    """
    encode = {list(columns).index(c) for c in json_columns}
    if encode:
        rows = [
            tuple(json_text(v) if i in encode else v for i, v in enumerate(row)) for row in rows
        ]
    elif not isinstance(rows, list):
        rows = list(rows)
    if not rows:
        return 0
    cols = ", ".join(columns)
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return len(rows)
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
    return len(rows)


def skip_row_triggers(conn: Connection) -> bool:
    """On PostgreSQL, turn off row triggers, foreign-key checks included, for the rest of the
    caller's transaction, if its role may (``SET LOCAL session_replication_role = replica``: a
    superuser, or from PostgreSQL 15 a role granted ``SET ON PARAMETER
    session_replication_role``). Returns whether it did; other roles and databases keep their
    checks, and their writes are just slower.

    For bulk writes whose every foreign key was read from the same store (mining's ranked lists
    and candidates): per-row checks there cost half the write time.
    """
    if conn.dialect.name != "postgresql":
        return False
    allowed = conn.exec_driver_sql(
        "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
    ).scalar()
    if not allowed and int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) >= 150000:
        allowed = conn.exec_driver_sql(
            "SELECT has_parameter_privilege('session_replication_role', 'SET')"
        ).scalar()
    if allowed:
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    return bool(allowed)


def insert_ignore(conn: Connection, table: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` into ``table``, skipping rows that hit a unique constraint.

    ``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL: two workers writing the same
    judgment or label at once leave one row, and neither fails. Returns the rows inserted.
    """
    if not rows:
        return 0
    from sqlalchemy.dialects import postgresql, sqlite

    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    # RETURNING counts what was inserted on both databases (psycopg reports no rowcount for
    # a multi-row insert); a skipped row returns nothing.
    key = next(iter(table.primary_key.columns))
    stmt = dialect.insert(table).on_conflict_do_nothing().returning(key)
    return len(conn.execute(stmt, list(rows)).all())
