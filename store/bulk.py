"""Fast bulk inserts for the big tables (retrievals, candidates, judgments).

ORM and Core inserts build one dict per row; mining writes millions of rows, so this goes to
the driver: ``COPY ... FROM STDIN`` on PostgreSQL (psycopg 3), ``executemany`` with tuples
elsewhere. It runs on the caller's connection, inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

__all__ = ["bulk_insert", "insert_ignore"]


def bulk_insert(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    json_columns: Sequence[str] = (),
) -> int:
    """Insert ``rows`` (tuples in ``columns`` order) into ``table``; returns the row count.

    Values of ``json_columns`` are serialised to JSON here; the table and column names are
    trusted identifiers from the schema, never user input.
    """
    encode = {list(columns).index(c) for c in json_columns}
    if encode:
        rows = [
            tuple(json.dumps(v) if i in encode else v for i, v in enumerate(row)) for row in rows
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
