"""ranked lists: one row per (mining run, query, channel) instead of one per retrieval

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 08:00:00

``retrievals`` (one row per run, query, channel and rank: 15.6 million rows for one Home Depot
mining run, written in 85–97 s) becomes ``ranked_lists``: each channel's list in one row, ids
as little-endian int64 and scores as little-endian float32, best first (``store/ranked.py``).
Rows written before are converted list by list, then ``retrievals`` is dropped; downgrading
converts back.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_IDS, _SCORES = np.dtype("<i8"), np.dtype("<f4")
_BATCH = 2_000


def _create_ranked_lists() -> None:
    op.create_table(
        "ranked_lists",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("product_ids", sa.LargeBinary(), nullable=False),
        sa.Column("scores", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["query_id"], ["queries.id"], name=op.f("fk_ranked_lists_query_id_queries")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_ranked_lists_run_id_runs")),
        sa.PrimaryKeyConstraint("run_id", "query_id", "channel", name=op.f("pk_ranked_lists")),
    )


def _create_retrievals() -> None:
    op.create_table(
        "retrievals",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_retrievals_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["query_id"], ["queries.id"], name=op.f("fk_retrievals_query_id_queries")
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_retrievals_run_id_runs")),
        sa.PrimaryKeyConstraint(
            "run_id", "query_id", "channel", "rank", name=op.f("pk_retrievals")
        ),
    )


def _batches(rows: Iterator[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _retrievals_to_lists() -> None:
    bind = op.get_bind()
    old = sa.table(
        "retrievals",
        *(sa.column(c) for c in ("run_id", "query_id", "channel", "rank", "product_id", "score")),
    )
    new = sa.table(
        "ranked_lists",
        *(sa.column(c) for c in ("run_id", "query_id", "channel", "length")),
        sa.column("product_ids", sa.LargeBinary()),
        sa.column("scores", sa.LargeBinary()),
    )
    ordered = bind.execute(
        sa.select(old)
        .order_by(old.c.run_id, old.c.query_id, old.c.channel, old.c.rank)
        .execution_options(yield_per=_BATCH * 100)  # streamed: millions of rows
    )
    lists = (
        {
            "run_id": key[0],
            "query_id": key[1],
            "channel": key[2],
            "length": len(members := list(group)),
            "product_ids": np.array([m.product_id for m in members], dtype=_IDS).tobytes(),
            "scores": np.array([m.score for m in members], dtype=_SCORES).tobytes(),
        }
        for key, group in groupby(ordered, key=lambda r: (r.run_id, r.query_id, r.channel))
    )
    for batch in _batches(lists):
        bind.execute(new.insert(), batch)


def _lists_to_retrievals() -> None:
    bind = op.get_bind()
    old = sa.table(
        "ranked_lists",
        *(sa.column(c) for c in ("run_id", "query_id", "channel")),
        sa.column("product_ids", sa.LargeBinary()),
        sa.column("scores", sa.LargeBinary()),
    )
    new = sa.table(
        "retrievals",
        *(sa.column(c) for c in ("run_id", "query_id", "channel", "rank", "product_id", "score")),
    )
    rows = (
        {
            "run_id": r.run_id,
            "query_id": r.query_id,
            "channel": r.channel,
            "rank": rank,
            "product_id": pid,
            "score": score,
        }
        for r in bind.execute(sa.select(old).execution_options(yield_per=_BATCH))
        for rank, (pid, score) in enumerate(
            zip(
                np.frombuffer(r.product_ids, dtype=_IDS).tolist(),
                np.frombuffer(r.scores, dtype=_SCORES).tolist(),
                strict=True,
            ),
            1,
        )
    )
    for batch in _batches(rows):
        bind.execute(new.insert(), batch)


def upgrade() -> None:
    _create_ranked_lists()
    _retrievals_to_lists()
    op.drop_table("retrievals")


def downgrade() -> None:
    _create_retrievals()
    _lists_to_retrievals()
    op.drop_table("ranked_lists")
