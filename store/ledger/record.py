"""Recording runs: the names they go under, a run's row from start to final status, liveness.

:func:`recorded_run` writes a ``running`` row when a unit of work starts and ``succeeded`` or
``failed`` when it ends, with the lineage columns that say what the run was made from
(:mod:`store.ledger` lists them); :func:`record_finished` adds a finished row inside a caller's
transaction. A running run holds a lock named after it for as long as its process lives, so
:func:`mark_interrupted` can tell a killed run from a live one. :func:`tagged` stamps every run
recorded inside a block (a Prefect flow run's id, model versions).
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from core.errors import DissentError
from store.db import schema_revision
from store.locks import locks_are_shared, work_lock
from store.schema import Run, utcnow

__all__ = [
    "INTERRUPTED",
    "Flow",
    "RunRecord",
    "mark_interrupted",
    "record_finished",
    "recorded_run",
    "tagged",
]


class Flow(StrEnum):
    """The names runs are recorded under (the ``runs.flow`` column)."""

    INGEST = "ingest"
    MINE = "mine"
    TRAIN_TIER1 = "train-tier1"
    CALIBRATE = "calibrate"
    ANNOTATE = "annotate"
    CURRICULUM = "curriculum"
    EXPORT = "export"
    TRAIN = "train"
    EVALUATE = "evaluate"
    PIPELINE = "pipeline"  # stores keep these rows once the pipeline flow stops writing them


_LINEAGE_COLUMNS = (
    "fingerprint",
    "mining_run_id",
    "calibration_run_id",
    "cascade_id",
    "curriculum_run_id",
    "export_run_id",
)


@dataclass
class RunRecord:
    """A run in progress, as :func:`recorded_run` yields it.

    Set ``counts`` (and ``cost``) before the block ends; lineage learnt during the run (the
    cascade an annotation used, say) can be set too, and is stored with the final status.
    """

    id: int
    counts: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    mining_run_id: int | None = None
    calibration_run_id: int | None = None
    cascade_id: str | None = None
    curriculum_run_id: int | None = None
    export_run_id: int | None = None

    def lineage(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _LINEAGE_COLUMNS}


_TAGS: ContextVar[tuple[dict[str, Any], dict[str, Any]]] = ContextVar(
    "dissent_run_tags", default=({}, {})
)


@contextmanager
def tagged(parameters: dict[str, Any], versions: dict[str, Any]) -> Iterator[None]:
    """Add ``parameters`` and ``versions`` to every run recorded inside the block.

    A Prefect flow uses it to stamp the runs its tasks record with its flow-run id and the
    code and model versions; Prefect copies the context into thread-pool tasks.
    """
    outer_parameters, outer_versions = _TAGS.get()
    token = _TAGS.set(({**outer_parameters, **parameters}, {**outer_versions, **versions}))
    try:
        yield
    finally:
        _TAGS.reset(token)


def _versions(extra: dict[str, Any] | None) -> dict[str, Any]:
    try:
        dissent = importlib.metadata.version("dissent")
    except importlib.metadata.PackageNotFoundError:
        dissent = None
    return {
        "dissent": dissent,
        "python": platform.python_version(),
        "schema": schema_revision(),
        **_TAGS.get()[1],
        **(extra or {}),
    }


INTERRUPTED = (
    "interrupted: the process running it stopped before it finished (killed, or its machine or "
    "store connection lost); what it committed is kept, and running the same command again "
    "resumes or redoes it"
)


def _liveness_key(engine: Engine, run_id: int) -> str:
    # PostgreSQL advisory locks are server-wide: the database's name keeps run 5 of one
    # database from being taken for run 5 of another on the same server.
    return f"dissent-run:{engine.url.database}:{run_id}"


def mark_interrupted(engine: Engine) -> list[int]:
    """Mark ``failed`` every ``running`` run whose process is gone; return their ids.

    A running run holds a lock named after it for as long as its process lives
    (:func:`store.locks.work_lock`: a PostgreSQL advisory lock, or an ``flock`` beside a SQLite
    file), so a row that says ``running`` while its lock is free was left by a process that
    was killed or lost its machine. Such a row would otherwise say ``running`` for ever.
    Called whenever a run starts and by ``dissent status``.
    """
    if not locks_are_shared(engine):
        return []
    with engine.connect() as conn:
        running = conn.execute(select(Run.id).where(Run.status == "running")).scalars().all()
    interrupted = []
    for run_id in running:
        with work_lock(engine, _liveness_key(engine, run_id), blocking=False) as free:
            if not free:
                continue
            with engine.begin() as conn:
                changed = conn.execute(
                    update(Run)
                    .where(Run.id == run_id, Run.status == "running")
                    .values(status="failed", error=INTERRUPTED, finished_at=utcnow())
                ).rowcount
            if changed:
                interrupted.append(run_id)
    return interrupted


def _start(
    engine: Engine,
    flow: Flow,
    parameters: dict[str, Any],
    versions: dict[str, Any] | None,
    lineage: dict[str, Any],
    resume: int | None,
    hold: ExitStack,
) -> int:
    """Insert (or resume) the run's row, holding its liveness lock before anyone can see it."""
    mark_interrupted(engine)
    values = {
        "parameters": {**parameters, **_TAGS.get()[0]},
        "versions": _versions(versions),
        "status": "running",
        "error": None,
        "finished_at": None,
        **{k: v for k, v in lineage.items() if v is not None},
    }
    with engine.begin() as conn:
        if resume is not None:
            if not hold.enter_context(
                work_lock(engine, _liveness_key(engine, resume), blocking=False)
            ):
                raise DissentError(
                    f"{flow} run {resume} is being resumed by another process; wait for it "
                    "to finish (see `dissent status`)"
                )
            conn.execute(update(Run).where(Run.id == resume).values(**values))
            return resume
        new = conn.execute(
            insert(Run).values(flow=str(flow), counts={}, cost={}, started_at=utcnow(), **values)
        )
        run_id = int(new.inserted_primary_key[0])  # type: ignore[index]
        # Locked before the insert commits, so no one sees the row running and unlocked.
        hold.enter_context(work_lock(engine, _liveness_key(engine, run_id)))
        return run_id


@contextmanager
def recorded_run(
    engine: Engine,
    flow: Flow,
    parameters: dict[str, Any],
    versions: dict[str, Any] | None = None,
    *,
    resume: int | None = None,
    fingerprint: str | None = None,
    mining_run_id: int | None = None,
    calibration_run_id: int | None = None,
    cascade_id: str | None = None,
    curriculum_run_id: int | None = None,
    export_run_id: int | None = None,
) -> Iterator[RunRecord]:
    """Record a unit of work as a ``runs`` row: ``running`` now, then ``succeeded`` or ``failed``.

    Args:
        engine: the store.
        flow: what kind of work this is.
        parameters: what the caller asked for (JSON).
        versions: versions beyond the code's, schema's and Python's (a prompt hash, say).
        resume: continue this existing run (a killed mining run) instead of starting a row.
        fingerprint, mining_run_id, calibration_run_id, cascade_id, curriculum_run_id,
            export_run_id: what the run is made from (see :mod:`store.ledger`).

    Yields the :class:`RunRecord`. An exception marks the run failed with its message and
    propagates. A process killed inside the block leaves the row ``running`` until the next
    run starts or ``dissent status`` looks: they find its liveness lock free and mark it
    failed as interrupted (:func:`mark_interrupted`).
    """
    record = RunRecord(
        0,
        fingerprint=fingerprint,
        mining_run_id=mining_run_id,
        calibration_run_id=calibration_run_id,
        cascade_id=cascade_id,
        curriculum_run_id=curriculum_run_id,
        export_run_id=export_run_id,
    )
    with ExitStack() as hold:
        record.id = run_id = _start(
            engine, flow, parameters, versions, record.lineage(), resume, hold
        )
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
        final = {k: v for k, v in record.lineage().items() if v is not None}
        with engine.begin() as conn:
            conn.execute(
                update(Run)
                .where(Run.id == run_id)
                .values(
                    status="succeeded",
                    counts=record.counts,
                    cost=record.cost,
                    finished_at=utcnow(),
                    **final,
                )
            )


def record_finished(
    session: Session, flow: Flow, parameters: dict[str, Any], counts: dict[str, Any]
) -> Run:
    """Add a succeeded run to ``session``'s transaction: it commits with the work it records.

    For work that is one transaction (an ingest): if it rolls back, no run row is left.
    """
    now = utcnow()
    run = Run(
        flow=str(flow),
        parameters={**parameters, **_TAGS.get()[0]},
        versions=_versions(None),
        counts=counts,
        cost={},
        status="succeeded",
        started_at=now,
        finished_at=now,
    )
    session.add(run)
    session.flush()
    return run
