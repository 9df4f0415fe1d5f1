"""train runs name the export they trained on

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 08:00:00

``runs`` gains ``export_run_id``: a ``train`` run's export (its ``curriculum_run_id`` names the
export's curriculum run, its ``fingerprint`` the export's content with the recipes and the
training settings). Rows written before are no train runs: nothing to fill in.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # In place, as 0002 does: a batch copy of `runs` would drop a table others refer to.
        op.execute(
            "ALTER TABLE runs ADD COLUMN export_run_id INTEGER "
            "CONSTRAINT fk_runs_export_run_id_runs REFERENCES runs (id)"
        )
    else:
        op.add_column("runs", sa.Column("export_run_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_runs_export_run_id_runs"), "runs", "runs", ["export_run_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("export_run_id")
