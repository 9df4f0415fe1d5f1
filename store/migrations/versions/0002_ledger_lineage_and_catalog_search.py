"""typed run lineage; the catalog channel's full-text tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 08:00:00

- ``runs`` gains the lineage columns ``fingerprint``, ``mining_run_id``,
  ``calibration_run_id``, ``cascade_id`` and ``curriculum_run_id``; rows written before are
  filled in from the JSON they kept these in.
- The catalog channel's full-text table is created here instead of by the channel: FTS5
  ``catalog_search_fts`` on SQLite, ``catalog_search`` with a weighted generated ``tsvector``
  and a GIN index on PostgreSQL (see ``miners/catalog.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LINKS = ("mining_run_id", "calibration_run_id", "curriculum_run_id")
_CATALOG_COLUMNS = ("brand", "product_type", "attributes", "title")
_PG_WEIGHT = {"product_type": "A", "brand": "B", "attributes": "C", "title": "D"}


def _add_lineage_columns() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite adds a column with a REFERENCES clause in place (a batch copy of `runs`
        # would have to drop a table every other table refers to).
        op.execute("ALTER TABLE runs ADD COLUMN fingerprint VARCHAR(64)")
        for column in _LINKS:
            op.execute(
                f"ALTER TABLE runs ADD COLUMN {column} INTEGER "
                f"CONSTRAINT fk_runs_{column}_runs REFERENCES runs (id)"
            )
        op.execute("ALTER TABLE runs ADD COLUMN cascade_id VARCHAR(64)")
    else:
        op.add_column("runs", sa.Column("fingerprint", sa.String(length=64), nullable=True))
        for column in _LINKS:
            op.add_column("runs", sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(op.f(f"fk_runs_{column}_runs"), "runs", "runs", [column], ["id"])
        op.add_column("runs", sa.Column("cascade_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_runs_fingerprint"), "runs", ["fingerprint"], unique=False)
    op.create_index(op.f("ix_runs_mining_run_id"), "runs", ["mining_run_id"], unique=False)


def _backfill_lineage() -> None:
    """Copy the lineage that runs written by revision 0001 kept in their JSON."""
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    runs = sa.table(
        "runs",
        sa.column("id", sa.Integer()),
        sa.column("flow", sa.String()),
        sa.column("parameters", json),
        sa.column("counts", json),
        *(sa.column(c, sa.Integer()) for c in _LINKS),
        sa.column("fingerprint", sa.String()),
        sa.column("cascade_id", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(runs.c.id, runs.c.flow, runs.c.parameters, runs.c.counts).where(
            runs.c.flow.in_(["mine", "annotate", "curriculum"])
        )
    ).all()
    for run_id, flow, parameters, counts in rows:
        parameters, counts = parameters or {}, counts or {}
        values = {
            "fingerprint": parameters.get("fingerprint") if flow != "annotate" else None,
            "mining_run_id": parameters.get("mining_run") if flow != "mine" else None,
            "cascade_id": parameters.get("cascade_id") or counts.get("cascade_id"),
            "calibration_run_id": counts.get("calibration_run") if flow == "annotate" else None,
        }
        values = {k: v for k, v in values.items() if v is not None}
        if values:
            bind.execute(sa.update(runs).where(runs.c.id == run_id).values(**values))


def _create_catalog_search() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS catalog_search_fts USING fts5("
            f"{', '.join(_CATALOG_COLUMNS)}, tokenize = 'unicode61 remove_diacritics 0')"
        )
        return
    vector = " || ".join(
        f"setweight(to_tsvector('simple'::regconfig, {c}), '{_PG_WEIGHT[c]}')"
        for c in _CATALOG_COLUMNS
    )
    op.execute("DROP TABLE IF EXISTS catalog_search")  # built by the channel before 0002
    op.execute(
        "CREATE TABLE catalog_search (id bigint PRIMARY KEY, "
        + ", ".join(f"{c} text NOT NULL" for c in _CATALOG_COLUMNS)
        + f", doc tsvector GENERATED ALWAYS AS ({vector}) STORED)"
    )
    op.execute("CREATE INDEX catalog_search_doc ON catalog_search USING gin (doc)")


def upgrade() -> None:
    _add_lineage_columns()
    _backfill_lineage()
    _create_catalog_search()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS catalog_search_fts")
    else:
        op.execute("DROP TABLE IF EXISTS catalog_search")
    op.drop_index(op.f("ix_runs_mining_run_id"), table_name="runs")
    op.drop_index(op.f("ix_runs_fingerprint"), table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for column in ("cascade_id", *_LINKS, "fingerprint"):
            batch.drop_column(column)
