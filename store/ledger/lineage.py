"""Following a run's inputs back through the ledger: a curriculum's, a trained retriever's.

The typed lineage columns (:mod:`store.ledger`) make each step one lookup: a curriculum run
names its mining run and cascade, the annotation that cascade made names its calibration; a
train run names the export it read and that export's curriculum run.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from store.ledger.query import annotation_of, find_run
from store.ledger.record import Flow
from store.schema import Run

__all__ = ["Lineage", "TrainLineage", "lineage", "train_lineage"]


@dataclass(frozen=True)
class Lineage:
    """Where a curriculum came from: its mining run, the annotation and its calibration."""

    curriculum: Run
    mining: Run | None
    annotation: Run | None
    calibration: Run | None


def lineage(engine: Engine, curriculum: Run) -> Lineage:
    """Follow a curriculum run's inputs back through the ledger (see :mod:`store.ledger`)."""
    with Session(engine, expire_on_commit=False) as session:
        mining = session.get(Run, curriculum.mining_run_id) if curriculum.mining_run_id else None
    annotation = (
        annotation_of(engine, curriculum.mining_run_id, curriculum.cascade_id)
        if curriculum.mining_run_id is not None
        else None
    )
    calibration = None
    if annotation is not None and annotation.calibration_run_id is not None:
        calibration = find_run(engine, annotation.calibration_run_id, Flow.CALIBRATE)
    return Lineage(curriculum, mining, annotation, calibration)


@dataclass(frozen=True)
class TrainLineage:
    """What a train run read: the export (None when it was copied in from another store) and
    the curriculum behind it, followed further back where the store has it."""

    train: Run
    export: Run | None
    curriculum: Lineage | None


def train_lineage(engine: Engine, train: Run) -> TrainLineage:
    """Follow a train run's inputs back: its export run, then the curriculum's lineage.

    Raises:
        DissentError: ``train`` names a run the store no longer has.
    """
    export = find_run(engine, train.export_run_id, Flow.EXPORT) if train.export_run_id else None
    curriculum_id = train.curriculum_run_id or (export.curriculum_run_id if export else None)
    curriculum = (
        lineage(engine, find_run(engine, curriculum_id, Flow.CURRICULUM))
        if curriculum_id is not None
        else None
    )
    return TrainLineage(train, export, curriculum)
