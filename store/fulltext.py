"""The catalog channel's full-text tables, and searching them: SQLite FTS5 and PostgreSQL.

Migration 0002 creates the tables; this module fills and searches them. Each product has four
text columns of normalised terms (:data:`COLUMNS`: brand, product type, attribute values,
title), built by the catalog channel (:mod:`miners.catalog`):

- SQLite: the FTS5 table :data:`FTS_TABLE` (one column per field, rowid = product id);
- PostgreSQL: :data:`TSVECTOR_TABLE` with a generated ``tsvector`` whose fields carry the
  weight labels product type A, brand B, attributes C, title D, and a GIN index.

A search takes :class:`FullTextQuery` objects (phrases per field, words for the title, and
whether a product must match a field) and returns, per query, rows of ``(product id, fields
matched, text score)`` ordered by fields matched, then score, then id. Terms are ``[a-z0-9]``
tokens only, so nothing in a query can reach the full-text syntax. The text score is FTS5
``bm25()`` with the column weights, or ``ts_rank`` with the weights scaled to at most 1 and
length normalisation 1.

Example:
    >>> from store.db import open_store
    >>> index = full_text_index(open_store("sqlite://"))
    >>> index.create([(1, "dewalt", "drill 0end0", "", "dewalt 20v drill")])
    >>> query = FullTextQuery({"brand": (("dewalt",),)}, ("drill",))
    >>> [row[:2] for row in index.search([query], 5, dict.fromkeys(COLUMNS, 1.0))[0]]
    [(1, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from core.errors import StoreError

__all__ = [
    "COLUMNS",
    "FIELD_COLUMNS",
    "FTS_TABLE",
    "TSVECTOR_TABLE",
    "FullTextIndex",
    "FullTextQuery",
    "PostgresFullText",
    "SqliteFullText",
    "full_text_index",
]

FTS_TABLE = "catalog_search_fts"
TSVECTOR_TABLE = "catalog_search"
COLUMNS = ("brand", "product_type", "attributes", "title")
FIELD_COLUMNS = ("brand", "product_type", "attributes")  # the recognised fields, in this order
_PG_WEIGHT = {"product_type": "A", "brand": "B", "attributes": "C", "title": "D"}


@dataclass(frozen=True, slots=True)
class FullTextQuery:
    """What one query searches: phrases per field (each a tuple of terms), words for the title,
    and whether a product must match a field (``gated``)."""

    fields: dict[str, tuple[tuple[str, ...], ...]]
    words: tuple[str, ...]
    gated: bool = False


class FullTextIndex(Protocol):
    """The full-text table of one store."""

    table: str

    def create(self, rows: list[tuple[Any, ...]]) -> None:
        """Replace the table's contents with ``rows`` of (product id, *COLUMNS)."""
        ...

    def count(self) -> int:
        """How many products the table holds."""
        ...

    def search(
        self, plans: Sequence[FullTextQuery], k: int, weights: dict[str, float]
    ) -> list[Any]:
        """Per query, its top ``k`` rows of (product id, fields matched, text score)."""
        ...


def _driver(conn: Connection) -> Any:
    """The DB-API connection under ``conn`` (sqlite3 or psycopg), for cursor-level speed."""
    raw = conn.connection.driver_connection
    if raw is None:
        raise StoreError("full-text search: the database connection is closed")
    return raw


class SqliteFullText:
    """The FTS5 table ``catalog_search_fts``; one SQL query per search, with one IN-subquery per
    field the query names."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.table = FTS_TABLE

    def create(self, rows: list[tuple[Any, ...]]) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"DELETE FROM {FTS_TABLE}")
            if rows:
                columns = ", ".join(COLUMNS)
                conn.exec_driver_sql(
                    f"INSERT INTO {FTS_TABLE} (rowid, {columns}) VALUES (?, ?, ?, ?, ?)", rows
                )
            conn.exec_driver_sql(f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}) VALUES ('optimize')")

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {FTS_TABLE}").scalar_one())

    @staticmethod
    def _expr(field: str, phrases: Sequence[tuple[str, ...]]) -> str:
        return f"{field} : ({' OR '.join(chr(34) + ' '.join(p) + chr(34) for p in phrases)})"

    def search(
        self, plans: Sequence[FullTextQuery], k: int, weights: dict[str, float]
    ) -> list[Any]:
        bm25 = ", ".join(repr(float(weights[c])) for c in COLUMNS)
        out: list[Any] = []
        with self.engine.connect() as conn:
            cursor = _driver(conn).cursor()
            for plan in plans:
                if not plan.words and not plan.fields:
                    out.append([])
                    continue
                parts = [self._expr(f, p) for f, p in plan.fields.items()]
                title = [self._expr("title", [(w,) for w in plan.words])] if plan.words else []
                full = " OR ".join([*parts, *title])
                nf = " + ".join(
                    f"(rowid IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?))"
                    for _ in parts
                )
                sql = (
                    f"SELECT rowid, {nf or '0'} AS nf, -bm25({FTS_TABLE}, {bm25}) AS s "
                    f"FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH ?"
                )
                if plan.gated:  # only products that match a recognised field
                    sql = f"SELECT * FROM ({sql}) WHERE nf > 0"
                sql += " ORDER BY nf DESC, s DESC, rowid LIMIT ?"
                out.append(cursor.execute(sql, [*parts, full, k]).fetchall())
            cursor.close()
        return out


class PostgresFullText:
    """The ``catalog_search`` table with a weighted ``tsvector`` per product and a GIN index; one
    server-side prepared statement per connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.table = TSVECTOR_TABLE

    def create(self, rows: list[tuple[Any, ...]]) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {TSVECTOR_TABLE}")
            copy_sql = f"COPY {TSVECTOR_TABLE} (id, {', '.join(COLUMNS)}) FROM STDIN"
            with _driver(conn).cursor() as cursor, cursor.copy(copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.exec_driver_sql(f"ANALYZE {TSVECTOR_TABLE}")

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT count(*) FROM {TSVECTOR_TABLE}").scalar_one())

    @staticmethod
    def _expr(field: str, phrases: Sequence[tuple[str, ...]]) -> str:
        label = _PG_WEIGHT[field]
        return " | ".join("(" + " <-> ".join(f"'{t}':{label}" for t in p) + ")" for p in phrases)

    def search(
        self, plans: Sequence[FullTextQuery], k: int, weights: dict[str, float]
    ) -> list[Any]:
        top = max(weights.values())
        scaled = [weights[c] / top for c in ("title", "attributes", "brand", "product_type")]
        matched = " + ".join("coalesce((doc @@ %s::tsquery)::int, 0)" for _ in FIELD_COLUMNS)
        sql = (
            f"SELECT id, {matched} AS nf, ts_rank(%s::float4[], doc, %s::tsquery, 1) AS s "
            f"FROM {TSVECTOR_TABLE} WHERE doc @@ %s::tsquery ORDER BY nf DESC, s DESC, id LIMIT %s"
        )
        out: list[Any] = []
        with self.engine.connect() as conn:
            cursor = _driver(conn).cursor()
            for plan in plans:
                if not plan.words and not plan.fields:
                    out.append([])
                    continue
                parts = [
                    self._expr(f, plan.fields[f]) if f in plan.fields else None
                    for f in FIELD_COLUMNS
                ]
                title = [self._expr("title", [(w,) for w in plan.words])] if plan.words else []
                fields = " | ".join(p for p in parts if p)
                full = " | ".join(p for p in (fields, *title) if p)
                # gated: only products that match a recognised field (scored on the whole query)
                gate = fields if plan.gated else full
                cursor.execute(sql, [*parts, scaled, full, gate, k], prepare=True)
                out.append(cursor.fetchall())
            cursor.close()
        return out


def full_text_index(engine: Engine) -> SqliteFullText | PostgresFullText:
    """The full-text table of ``engine``'s store.

    Raises:
        StoreError: the database is neither SQLite nor PostgreSQL.
    """
    dialect = engine.dialect.name
    if dialect == "sqlite":
        return SqliteFullText(engine)
    if dialect == "postgresql":
        return PostgresFullText(engine)
    raise StoreError(f"full-text search: database {dialect!r} is not sqlite or postgresql")
