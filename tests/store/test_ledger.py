"""The run ledger's liveness: a run whose process died is marked interrupted, a live one never;
and the lineage a train run records, followed back to its curriculum.

Runs are held by real processes here, on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import Engine, select

from core.errors import DissentError
from store.db import open_store
from store.ledger import (
    INTERRUPTED,
    Flow,
    annotation_of,
    export_run_of,
    find_run,
    mark_interrupted,
    recorded_run,
    train_lineage,
)
from store.schema import Run
from tests.conftest import ROOT

HOLDER = textwrap.dedent(
    """
    import sys, time
    from store.db import open_store
    from store.ledger import Flow, recorded_run
    with recorded_run(open_store(sys.argv[1]), Flow.ANNOTATE, {}, resume=None) as run:
        print(run.id, flush=True)
        time.sleep(600)
    """
)


def _holder(engine: Engine) -> tuple[subprocess.Popen[str], int]:
    """A process inside a recorded run, and the run's id."""
    url = engine.url.render_as_string(hide_password=False)
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the holder process died before its run started"
    return process, int(line)


def _status(engine: Engine, run_id: int) -> tuple[str, str | None]:
    with engine.connect() as conn:
        row = conn.execute(select(Run.status, Run.error).where(Run.id == run_id)).one()
    return row.status, row.error


def test_a_killed_run_is_marked_interrupted_and_a_live_one_is_left(engine: Engine) -> None:
    process, run_id = _holder(engine)
    try:
        assert mark_interrupted(engine) == []  # alive: its lock is held
        assert _status(engine, run_id) == ("running", None)
        busy = f"run {run_id} is being resumed by another"
        with (
            pytest.raises(DissentError, match=busy),
            recorded_run(engine, Flow.ANNOTATE, {}, resume=run_id),
        ):
            pass
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.poll() is not None
    assert _status(engine, run_id) == ("running", None)  # what a kill leaves
    assert mark_interrupted(engine) == [run_id]
    assert _status(engine, run_id) == ("failed", INTERRUPTED)
    assert mark_interrupted(engine) == []


def test_a_new_run_marks_dead_ones_and_resumes_them(engine: Engine) -> None:
    process, run_id = _holder(engine)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    with recorded_run(engine, Flow.MINE, {}) as other:
        assert _status(engine, run_id) == ("failed", INTERRUPTED)
    with recorded_run(engine, Flow.ANNOTATE, {}, resume=run_id):
        assert _status(engine, run_id) == ("running", None)
    assert _status(engine, run_id)[0] == _status(engine, other.id)[0] == "succeeded"


def test_an_in_memory_store_never_marks_its_own_runs() -> None:
    """No other process can see an in-memory database: nothing is ever interrupted there."""
    engine = open_store("sqlite://")
    with recorded_run(engine, Flow.MINE, {}) as run:
        assert mark_interrupted(engine) == []
        assert _status(engine, run.id) == ("running", None)


def test_annotation_of_finds_the_newest_or_the_oldest() -> None:
    engine = open_store("sqlite://")
    with recorded_run(engine, Flow.MINE, {}) as mining:
        pass
    ids = []
    for _ in range(3):
        with recorded_run(engine, Flow.ANNOTATE, {}, mining_run_id=mining.id, cascade_id="c") as r:
            ids.append(r.id)
    newest, oldest = annotation_of(engine, mining.id), annotation_of(engine, mining.id, oldest=True)
    assert newest is not None and oldest is not None
    assert (newest.id, oldest.id) == (ids[-1], ids[0])
    assert annotation_of(engine, mining.id, "other") is None


def test_a_train_run_leads_back_to_its_export_and_curriculum(engine: Engine) -> None:
    with recorded_run(engine, Flow.MINE, {}) as mining:
        pass
    with recorded_run(engine, Flow.CURRICULUM, {}, mining_run_id=mining.id) as curriculum:
        pass
    exports = []
    for folder in ("/w/export", "/w/other"):
        with recorded_run(
            engine, Flow.EXPORT, {"output_dir": folder}, curriculum_run_id=curriculum.id
        ) as export:
            exports.append(export.id)
    found = export_run_of(engine, "/w/export", curriculum.id)
    assert found is not None and found.id == exports[0]
    assert export_run_of(engine, "/w/export", curriculum.id + 99) is None
    assert export_run_of(engine, "/elsewhere") is None  # copied in from another store
    with recorded_run(
        engine,
        Flow.TRAIN,
        {"recipes": ["human"]},
        fingerprint="f" * 64,
        export_run_id=exports[0],
        curriculum_run_id=curriculum.id,
    ) as train:
        pass
    lineage = train_lineage(engine, find_run(engine, train.id, Flow.TRAIN))
    assert lineage.export is not None and lineage.export.id == exports[0]
    assert lineage.curriculum is not None and lineage.curriculum.curriculum.id == curriculum.id
    assert lineage.curriculum.mining is not None and lineage.curriculum.mining.id == mining.id
    with recorded_run(engine, Flow.TRAIN, {}) as bare:  # trained on human labels alone
        pass
    alone = train_lineage(engine, find_run(engine, bare.id))
    assert alone.export is None and alone.curriculum is None
