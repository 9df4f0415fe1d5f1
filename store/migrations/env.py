"""Alembic environment: the engine comes from ``store.db`` (config.attributes['engine'])
or, on the command line, from ``DISSENT_STORE__URL`` / ``-x url=...``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from store.schema import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        url = context.get_x_argument(as_dictionary=True).get("url") or os.environ.get(
            "DISSENT_STORE__URL", "sqlite:///dissent.db"
        )
        engine = create_engine(url)
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


run_migrations()
