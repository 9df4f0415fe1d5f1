"""The run ledger: one ``runs`` row per unit of work, written and read only through here.

Every stage records itself with :func:`recorded_run` (or :func:`record_finished` inside a
caller's transaction, as ingest does), under one of the :class:`Flow` names. What a run was
made from lives in typed columns, not in its JSON: a mining run's ``fingerprint``; an annotate
run's ``mining_run_id``, ``cascade_id`` and ``calibration_run_id``; a curriculum run's
``mining_run_id``, ``cascade_id`` and ``fingerprint``; an export's ``curriculum_run_id``; a
train run's ``export_run_id``, ``curriculum_run_id`` and ``fingerprint``. The lineage of a
dataset or a trained retriever is therefore a chain of lookups::

    train --export_run--> export --curriculum_run--> curriculum --mining_run, cascade--> mining, annotate
    annotate --calibration_run--> calibrate

:func:`lineage` follows it for the dataset card, :func:`train_lineage` for a model. A Prefect
flow does not write rows of its own: it wraps its body in :func:`tagged`, and every run
recorded inside carries the flow run's id and the versions it adds.

- :mod:`store.ledger.record`: the names runs are recorded under, recording, liveness;
- :mod:`store.ledger.query`: finding runs;
- :mod:`store.ledger.lineage`: following a run's inputs back.

Example:
    >>> from store.db import open_store
    >>> engine = open_store("sqlite://")
    >>> with recorded_run(engine, Flow.MINE, {"limit": 10}, fingerprint="f00") as run:
    ...     run.counts = {"queries": 10}
    >>> found = latest_run(engine, Flow.MINE)
    >>> found.fingerprint, found.counts, found.status
    ('f00', {'queries': 10}, 'succeeded')
"""

from store.ledger.lineage import Lineage, TrainLineage, lineage, train_lineage
from store.ledger.query import (
    annotation_of,
    export_run_of,
    find_run,
    latest_run,
    latest_runs,
    resolve_run,
    runs_with_fingerprint,
    succeeded_ids,
    table_counts,
)
from store.ledger.record import (
    INTERRUPTED,
    Flow,
    RunRecord,
    mark_interrupted,
    record_finished,
    recorded_run,
    tagged,
)

__all__ = [
    "INTERRUPTED",
    "Flow",
    "Lineage",
    "RunRecord",
    "TrainLineage",
    "annotation_of",
    "export_run_of",
    "find_run",
    "latest_run",
    "latest_runs",
    "lineage",
    "mark_interrupted",
    "record_finished",
    "recorded_run",
    "resolve_run",
    "runs_with_fingerprint",
    "succeeded_ids",
    "table_counts",
    "tagged",
    "train_lineage",
]
