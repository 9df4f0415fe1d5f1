"""Finding runs in the ledger: by id, the newest of a flow, by fingerprint, by what they read.

Every function returns detached :class:`store.schema.Run` rows (their columns stay readable
after the session closes) or plain values; none writes.

Example:
    >>> from store.db import open_store
    >>> from store.ledger.record import recorded_run
    >>> engine = open_store("sqlite://")
    >>> with recorded_run(engine, Flow.EXPORT, {"output_dir": "/data/export"}) as run:
    ...     pass
    >>> export_run_of(engine, "/data/export").id == run.id
    True
    >>> resolve_run(engine, Flow.CURRICULUM)
    Traceback (most recent call last):
    ...
    core.errors.DissentError: no finished curriculum run in the store; run `dissent curriculum build` first
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.errors import DissentError
from store.ledger.record import Flow
from store.schema import Base, Run

__all__ = [
    "annotation_of",
    "export_run_of",
    "find_run",
    "latest_run",
    "latest_runs",
    "resolve_run",
    "runs_with_fingerprint",
    "succeeded_ids",
    "table_counts",
]

# What to run first when a flow has no finished run, for the errors that say so.
_HOW_TO_MAKE = {
    Flow.MINE: "dissent mine",
    Flow.ANNOTATE: "dissent annotate",
    Flow.CALIBRATE: "dissent calibrate",
    Flow.CURRICULUM: "dissent curriculum build",
    Flow.EXPORT: "dissent export",
    Flow.TRAIN: "dissent train",
}


def _first(engine: Engine, stmt: Any) -> Run | None:
    with Session(engine, expire_on_commit=False) as session:
        return session.scalars(stmt.limit(1)).first()


def find_run(engine: Engine, run_id: int, flow: Flow | None = None) -> Run:
    """The run ``run_id`` (of ``flow``, when given).

    Raises:
        DissentError: no such run, or it is a run of another flow.
    """
    with Session(engine, expire_on_commit=False) as session:
        run = session.get(Run, run_id)
    if run is None or (flow is not None and run.flow != flow):
        kind = f"{flow} run" if flow is not None else "run"
        raise DissentError(f"run {run_id} is not a {kind} in the store; see `dissent status`")
    return run


def latest_run(engine: Engine, flow: Flow) -> Run | None:
    """The newest *succeeded* run of ``flow``, or None."""
    return _first(
        engine,
        select(Run).where(Run.flow == str(flow), Run.status == "succeeded").order_by(Run.id.desc()),
    )


def resolve_run(engine: Engine, flow: Flow, run_id: int | None = None) -> Run:
    """``run_id`` if given (it must be a succeeded run of ``flow``), else the newest such run.

    Raises:
        DissentError: no such run, it did not succeed, or ``flow`` has no finished run yet.
    """
    if run_id is None:
        found = latest_run(engine, flow)
        if found is None:
            how = _HOW_TO_MAKE.get(flow, f"the {flow} step")
            raise DissentError(f"no finished {flow} run in the store; run `{how}` first")
        return found
    run = find_run(engine, run_id, flow)
    if run.status != "succeeded":
        raise DissentError(f"{flow} run {run_id} is {run.status}; run it again to finish it")
    return run


def succeeded_ids(engine: Engine, flow: Flow) -> list[int]:
    """The ids of ``flow``'s succeeded runs, newest first."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(Run.id)
                .where(Run.flow == str(flow), Run.status == "succeeded")
                .order_by(Run.id.desc())
            ).scalars()
        )


def runs_with_fingerprint(engine: Engine, flow: Flow, fingerprint: str) -> list[Run]:
    """The runs of ``flow`` made from exactly these inputs, newest first (any status)."""
    with Session(engine, expire_on_commit=False) as session:
        return list(
            session.scalars(
                select(Run)
                .where(Run.flow == str(flow), Run.fingerprint == fingerprint)
                .order_by(Run.id.desc())
            )
        )


def annotation_of(
    engine: Engine, mining_run: int, cascade_id: str | None = None, *, oldest: bool = False
) -> Run | None:
    """The newest (or ``oldest``) succeeded annotate run over a mining run.

    Args:
        engine: the store.
        mining_run: the mining run annotated.
        cascade_id: only an annotation by this cascade, if given.
        oldest: the first such run instead of the newest.

    Returns:
        The run, or None.
    """
    stmt = select(Run).where(
        Run.flow == str(Flow.ANNOTATE),
        Run.status == "succeeded",
        Run.mining_run_id == mining_run,
        Run.cascade_id.is_not(None),
    )
    if cascade_id is not None:
        stmt = stmt.where(Run.cascade_id == cascade_id)
    return _first(engine, stmt.order_by(Run.id if oldest else Run.id.desc()))


def export_run_of(engine: Engine, output_dir: str, curriculum_run: int | None = None) -> Run | None:
    """The newest succeeded export run that wrote ``output_dir``.

    Args:
        engine: the store.
        output_dir: the export folder, resolved (as the export run recorded it).
        curriculum_run: only an export of this curriculum run, if given.

    Returns:
        The run, or None: an export copied in from another store has no run in this one.
    """
    stmt = select(Run).where(Run.flow == str(Flow.EXPORT), Run.status == "succeeded")
    if curriculum_run is not None:
        stmt = stmt.where(Run.curriculum_run_id == curriculum_run)
    with Session(engine, expire_on_commit=False) as session:
        for run in session.scalars(stmt.order_by(Run.id.desc())):
            if (run.parameters or {}).get("output_dir") == output_dir:
                return run
    return None


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every table of the schema, in schema order."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for name, table in Base.metadata.tables.items()
        }


def latest_runs(engine: Engine, limit: int = 10) -> list[Run]:
    """The newest ``limit`` runs, newest first."""
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))
