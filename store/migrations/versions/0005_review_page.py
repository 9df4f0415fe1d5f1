"""the review page: people, their sign-ins, the labelling queue, assignments and grades

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 13:00:00

New tables for ``dissent review`` (the ``review`` package): ``reviewers`` (a name and the
SHA-256 of the person's token), ``review_sessions`` (a signed-in browser and its CSRF token),
``review_items`` (the queue: a pair, its position, how many people should grade it, the
strategy that chose it, a settled grade), ``review_assignments`` (who holds or held which
item) and ``review_labels`` (every grade given, an undone one kept and marked). A pair's
agreed or settled grade is written to ``human_labels`` with source ``review``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reviewers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviewers")),
        sa.UniqueConstraint("name", name=op.f("uq_reviewers_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_reviewers_token_hash")),
    )
    op.create_table(
        "review_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["reviewers.id"], name=op.f("fk_review_sessions_reviewer_id_reviewers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_sessions")),
    )
    op.create_index(
        op.f("ix_review_sessions_reviewer_id"), "review_sessions", ["reviewer_id"], unique=False
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("query_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("raters", sa.Integer(), nullable=False),
        sa.Column("taken", sa.Integer(), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column("reason", _JSON, nullable=False),
        sa.Column("settled_grade", sa.Integer(), nullable=True),
        sa.Column("settled_by", sa.Integer(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_review_items_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["query_id"], ["queries.id"], name=op.f("fk_review_items_query_id_queries")
        ),
        sa.ForeignKeyConstraint(
            ["settled_by"], ["reviewers.id"], name=op.f("fk_review_items_settled_by_reviewers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint(
            "query_id", "product_id", name=op.f("uq_review_items_query_id_product_id")
        ),
    )
    op.create_index(op.f("ix_review_items_position"), "review_items", ["position"], unique=False)
    op.create_table(
        "review_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("assigned_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_items.id"], name=op.f("fk_review_assignments_item_id_review_items")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["reviewers.id"],
            name=op.f("fk_review_assignments_reviewer_id_reviewers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_assignments")),
        sa.UniqueConstraint(
            "item_id", "reviewer_id", name=op.f("uq_review_assignments_item_id_reviewer_id")
        ),
    )
    op.create_index(
        op.f("ix_review_assignments_item_id"), "review_assignments", ["item_id"], unique=False
    )
    op.create_index(
        op.f("ix_review_assignments_reviewer_id"),
        "review_assignments",
        ["reviewer_id"],
        unique=False,
    )
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("undone", sa.Boolean(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["review_items.id"], name=op.f("fk_review_labels_item_id_review_items")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"], ["reviewers.id"], name=op.f("fk_review_labels_reviewer_id_reviewers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_labels")),
    )
    op.create_index(
        "ix_review_labels_item", "review_labels", ["item_id", "reviewer_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_review_labels_item", table_name="review_labels")
    op.drop_table("review_labels")
    op.drop_index(op.f("ix_review_assignments_reviewer_id"), table_name="review_assignments")
    op.drop_index(op.f("ix_review_assignments_item_id"), table_name="review_assignments")
    op.drop_table("review_assignments")
    op.drop_index(op.f("ix_review_items_position"), table_name="review_items")
    op.drop_table("review_items")
    op.drop_index(op.f("ix_review_sessions_reviewer_id"), table_name="review_sessions")
    op.drop_table("review_sessions")
    op.drop_table("reviewers")
