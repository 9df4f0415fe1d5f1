"""The run ledger and store-wide counts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, func, insert, select, update
from sqlalchemy.orm import Session

from store.schema import Base, Run, utcnow

__all__ = [
    "latest_run",
    "latest_runs",
    "recorded_run",
    "runs_with_fingerprint",
    "table_counts",
]


@contextmanager
def recorded_run(
    engine: Engine,
    flow: str,
    parameters: dict[str, Any],
    versions: dict[str, Any] | None = None,
) -> Iterator[dict[str, Any]]:
    """Record a unit of work as a ``runs`` row: ``running`` now, then ``succeeded`` or ``failed``.

    Yields a dict holding ``run_id``; put ``counts`` (and ``cost``) in it before the block ends
    and they are stored with the final status. An exception marks the run failed with its
    message and propagates. A process killed inside the block leaves the row ``running``.
    """
    with engine.begin() as conn:
        run_id = conn.execute(
            insert(Run).values(
                flow=flow,
                parameters=parameters,
                versions=versions or {},
                counts={},
                cost={},
                status="running",
                started_at=utcnow(),
            )
        ).inserted_primary_key[0]  # type: ignore[index]
    record: dict[str, Any] = {"run_id": run_id, "counts": {}, "cost": {}}
    try:
        yield record
    except BaseException as exc:
        with engine.begin() as conn:
            conn.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(status="failed", error=str(exc)[:2000], finished_at=utcnow())
            )
        raise
    with engine.begin() as conn:
        conn.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(
                status="succeeded",
                counts=record["counts"],
                cost=record["cost"],
                finished_at=utcnow(),
            )
        )


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every table of the schema, in schema order."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in Base.metadata.tables.items()
        }


def latest_run(engine: Engine, flow: str) -> Run | None:
    """The newest *succeeded* run of ``flow``, or None."""
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(
            select(Run)
            .where(Run.flow == flow, Run.status == "succeeded")
            .order_by(Run.id.desc())
            .limit(1)
        ).first()


def runs_with_fingerprint(engine: Engine, flow: str, fingerprint: str) -> list[Run]:
    """The runs of ``flow`` recorded with ``parameters.fingerprint``, newest first."""
    with Session(engine, expire_on_commit=False) as session:
        runs = session.scalars(select(Run).where(Run.flow == flow).order_by(Run.id.desc()))
        return [r for r in runs if (r.parameters or {}).get("fingerprint") == fingerprint]


def latest_runs(engine: Engine, limit: int = 10) -> list[Run]:
    """The newest ``limit`` runs, newest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))
