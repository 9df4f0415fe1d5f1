"""Annotating a mining run (annotator.annotating): the one route of ``dissent annotate`` and
the ``annotate`` flow.

The fast tests run the route on a small hand-made store with two scripted tiers (built in
place of the configured backends) and a calibration written by hand:

- queries 1-6, each with two candidates: products ``2q - 1`` (set ``hard_negative``) and
  ``2q`` (set ``easy_positive``);
- tier "cheap" answers .94 on grade 3 for an even product (confident: its threshold is .9)
  and uniform (.25) for an odd one, which goes on to "top", the last tier, which says grade 1
  (.91). So cheap decides the 6 even products, top the 6 odd ones.

The slow tests run the offline default tiers on the shipped sample (trained and calibrated
once for the package, conftest.py), through the library and as ``dissent annotate``
processes killed, resumed and run two at once. Gemma 270M gives every pair the same grade, so
they check the machinery, not the quality.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, insert, select

from annotator import annotating, tiers
from annotator.annotating import (
    AnnotationJob,
    AnnotationReport,
    QueryBatch,
    annotate,
    annotate_queries,
)
from annotator.backends.base import Backend, Pair
from annotator.backends.cross_encoder import CrossEncoderBackend
from annotator.backends.llama_cpp import LlamaCppBackend
from annotator.backends.llama_server import LocalServerBackend
from annotator.backends.scripted import ScriptedBackend
from annotator.config import AnnotationConfig, TierConfig
from annotator.tiers import load_cascade, open_tiers
from core.errors import DissentError
from flows.config import PipelineConfig
from prompts import load_prompt
from store.db import open_store
from store.ledger import Flow, recorded_run
from store.schema import Calibration, Candidate, Judgment, Label, Product, Query, Run, utcnow
from tests.conftest import ROOT


def _cheap(pair: Pair) -> list[float]:
    return [0.02, 0.02, 0.02, 0.94] if pair.product_id % 2 == 0 else [0.25] * 4


def _top(pair: Pair) -> list[float]:
    return [0.03, 0.91, 0.03, 0.03]


SCRIPTS = {"cheap": _cheap, "top": _top}


def _scripted(tier: TierConfig, workdir: Path, precision: str = "auto") -> Backend:
    return ScriptedBackend(tier.name, SCRIPTS[tier.name])


@pytest.fixture
def scripted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, PipelineConfig]:
    """The small store mined and calibrated (module docstring), and a config of its tiers."""
    monkeypatch.setattr(tiers, "build_backend", _scripted)
    config = PipelineConfig(
        workdir=tmp_path,
        annotation=AnnotationConfig(
            tiers=[
                TierConfig(name="cheap", backend="scripted"),
                TierConfig(name="top", backend="scripted"),
            ],
            batch_size=4,
        ),
    )
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    with engine.begin() as conn:
        conn.execute(
            insert(Query),
            [{"id": q, "external_id": f"q{q}", "text": f"q {q}"} for q in range(1, 7)],
        )
        conn.execute(
            insert(Product),
            [
                {"id": p, "external_id": f"p{p}", "title": f"p{p}", "content_hash": f"h{p}"}
                | {"attributes": {}, "raw": {}}
                for p in range(1, 13)
            ],
        )
    with recorded_run(engine, Flow.MINE, {}) as mined, engine.begin() as conn:
        conn.execute(
            insert(Candidate),
            [
                {
                    "run_id": mined.id,
                    "query_id": (p + 1) // 2,
                    "product_id": p,
                    "candidate_set": "easy_positive" if p % 2 == 0 else "hard_negative",
                }
                for p in range(1, 13)
            ],
        )
    prompt = load_prompt().version
    with recorded_run(engine, Flow.CALIBRATE, {}) as calibration, engine.begin() as conn:
        for tier, accept in ((1, 0.9), (2, None)):
            conn.execute(
                insert(Calibration).values(
                    tier=tier,
                    model_id=f"scripted:{('cheap', 'top')[tier - 1]}",
                    prompt_hash=prompt,
                    isotonic={},
                    thresholds={
                        "accept": accept,
                        "bypassed": False,
                        "decider": {"objective": "exact", "cutpoints": None},
                    },
                    fitted_on={},
                    run_id=calibration.id,
                    created_at=utcnow(),
                )
            )
    return engine, config


def _run_row(engine: Engine, run_id: int) -> Run:
    with engine.connect() as conn:
        return conn.execute(select(Run).where(Run.id == run_id)).one()  # type: ignore[return-value]


def _annotate_runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(Run).where(Run.flow == "annotate")).all())


def test_the_default_route_grades_the_run_as_one_batch(
    scripted: tuple[Engine, PipelineConfig],
) -> None:
    engine, config = scripted
    report = annotate(engine, config)
    assert (report.batches, report.pairs, report.already_labelled, report.failed) == (1, 12, 0, 0)
    assert report.decided_by == {"cheap": 6, "top": 6}
    assert report.model_calls == {"cheap": 12, "top": 6}
    assert report.cascade_ids == [report.cascade_id]
    (run,) = _annotate_runs(engine)
    assert run.status == "succeeded"
    assert (run.mining_run_id, run.cascade_id) == (report.mining_run, report.cascade_id)
    assert run.calibration_run_id == report.calibration_run is not None
    assert run.counts == report.summary()
    assert run.parameters["batches"] == 1
    with engine.connect() as conn:
        grades = dict(conn.execute(select(Label.product_id, Label.grade)).all())
    assert grades == {p: 3 if p % 2 == 0 else 1 for p in range(1, 13)}
    again = annotate(engine, config)
    assert (again.already_labelled, again.model_calls) == (12, {"cheap": 0, "top": 0})


def test_a_planner_a_wrapper_and_a_runner_shape_the_same_route(
    scripted: tuple[Engine, PipelineConfig],
) -> None:
    engine, config = scripted
    wrapped: list[str] = []
    ran: list[QueryBatch] = []

    def plan(engine: Engine, mining_run: int, sets: Sequence[str] | None) -> list[QueryBatch]:
        return [[1, 2, 3], [4, 5, 6]]

    def wrap(tier: TierConfig, backend: Backend) -> Backend:
        wrapped.append(tier.name)
        return backend

    def run_batches(job: AnnotationJob, batches: Sequence[QueryBatch]) -> list[AnnotationReport]:
        # as a worker would: its own tiers and cascade, one batch at a time
        with open_tiers(config) as specs:
            cascade = load_cascade(engine, specs)
            ran.extend(batches)
            return [annotate_queries(engine, config, cascade, job, batch) for batch in batches]

    report = annotate(engine, config, plan=plan, wrap_backend=wrap, run_batches=run_batches)
    assert wrapped == ["cheap", "top"] and ran == [[1, 2, 3], [4, 5, 6]]
    assert (report.batches, report.pairs) == (2, 12)
    assert report.decided_by == {"cheap": 6, "top": 6}
    assert report.model_calls == {"cheap": 12, "top": 6}
    (run,) = _annotate_runs(engine)
    assert run.parameters["batches"] == 2 and run.counts == report.summary()
    # only the asked set, and a limit per batch
    hard = annotate(engine, config, sets=["hard_negative"], plan=plan, run_batches=run_batches)
    assert (hard.pairs, hard.already_labelled) == (6, 6)
    limited = annotate(engine, config, limit=2, plan=plan, run_batches=run_batches)
    assert limited.pairs == 4


def test_refusals_come_before_the_run_is_recorded(
    scripted: tuple[Engine, PipelineConfig],
) -> None:
    engine, config = scripted
    with pytest.raises(DissentError, match="unknown disagreement set 'bogus'; the sets are"):
        annotate(engine, config, sets=["bogus"])
    with pytest.raises(DissentError, match="limit must be a positive number of pairs, got 0"):
        annotate(engine, config, limit=0)
    with pytest.raises(DissentError, match="run 99 is not a mine"):
        annotate(engine, config, mining_run=99)
    with engine.begin() as conn:
        conn.execute(delete(Calibration))
    with pytest.raises(DissentError, match="run `dissent calibrate` first"):
        annotate(engine, config)
    assert _annotate_runs(engine) == []


def test_batch_reports_add_up() -> None:
    first = AnnotationReport(
        7, "c1", 3, batches=1, pairs=4, decided_by={"a": 3, "b": 1}, model_calls={"a": 4}
    )
    second = AnnotationReport(
        7, "c2", 4, batches=1, pairs=2, decided_by={"b": 2}, cascade_ids=["c2"], failed=1
    )
    merged = first.merge(second)
    assert (merged.mining_run, merged.cascade_id, merged.calibration_run) == (7, "c1", 3)
    assert (merged.batches, merged.pairs, merged.failed) == (2, 6, 1)
    assert merged.decided_by == {"a": 3, "b": 3} and merged.model_calls == {"a": 4}
    assert merged.cascade_ids == ["c2"]
    recalibrated = AnnotationReport(7, "c1", 3, cascade_ids=["c1"]).merge(second)
    assert recalibrated.lines()[-1] == "  recalibrated during the run: cascades c1, c2"


# ------------------------------------------------------------ the sample, offline tiers


@pytest.mark.slow
def test_annotate_grades_candidates_and_a_rerun_is_all_cache_hits(
    calibrated: object, sample_store: Engine, sample_config: PipelineConfig
) -> None:
    first = annotate(sample_store, sample_config, limit=40)
    assert first.pairs == 40 and sum(first.decided_by.values()) + first.failed == 40
    read: list[int] = []
    real = annotating.with_product_fields

    def spy(engine: Engine, pairs: Sequence[Pair]) -> list[Pair]:
        read.append(len(pairs))
        return real(engine, pairs)

    built: list[Backend] = []
    real_build = tiers.build_backend

    def build(*args: Any, **kwargs: Any) -> Backend:
        built.append(real_build(*args, **kwargs))
        return built[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(annotating, "with_product_fields", spy)
        patch.setattr(tiers, "build_backend", build)
        again = annotate(sample_store, sample_config, limit=40)
    assert again.already_labelled == 40 and sum(again.model_calls.values()) == 0
    # a run with nothing to grade reads no product, loads no weights and starts no server
    assert read == [] and built
    assert all(not b.loaded for b in built if isinstance(b, CrossEncoderBackend | LlamaCppBackend))
    assert all(b._process is None for b in built if isinstance(b, LocalServerBackend))


def _annotate_process(
    config: PipelineConfig, batch_size: int, limit: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a ``dissent annotate`` process on this store."""
    env = {
        **os.environ,
        "DISSENT_STORE__URL": config.store_url,
        "DISSENT_WORKDIR": str(config.workdir),
        "DISSENT_ANNOTATION__BATCH_SIZE": str(batch_size),
        "DISSENT_ANNOTATION__INJECTION_PAIRS": "4",
    }
    command = [str(Path(sys.executable).parent / "dissent"), "annotate"]
    command += ["--config", str(ROOT / "configs/sample.yaml")]
    return command + (["--limit", str(limit)] if limit else []), env


@pytest.mark.slow
def test_killed_annotation_resumes_without_losing_or_duplicating(
    calibrated: object, sample_store: Engine, sample_config: PipelineConfig
) -> None:
    command, env = _annotate_process(sample_config, batch_size=4, limit=400)

    def count(table: type) -> int:
        with sample_store.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    before = count(Label)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while count(Label) < before + 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert process.poll() is None, "the annotation finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = count(Label)
    assert before < killed_at < before + 400 - 40

    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert count(Label) == 400  # the 40 of the earlier test are part of the first 400
    with sample_store.connect() as conn:
        duplicated = conn.execute(
            select(Judgment.query_id, Judgment.product_hash, Judgment.model_id, func.count())
            .where(Judgment.error.is_(None))
            .group_by(
                Judgment.query_id, Judgment.product_hash, Judgment.model_id, Judgment.prompt_hash
            )
            .having(func.count() > 1)
        ).all()
    assert duplicated == []


@pytest.mark.slow
def test_two_annotate_processes_on_one_run_share_it(
    calibrated: object, sample_store: Engine, sample_config: PipelineConfig
) -> None:
    """Two ``dissent annotate`` processes at once on the same SQLite store and mining run:
    both finish (no "database is locked"), every candidate is labelled once, no model call is
    made twice. (On PostgreSQL: tests/flows/test_scale_out.py.)"""
    command, env = _annotate_process(sample_config, batch_size=8)
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=900) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    with sample_store.connect() as conn:
        run = conn.execute(select(func.max(Candidate.run_id))).scalar_one()
        candidates = conn.execute(
            select(func.count()).select_from(Candidate).where(Candidate.run_id == run)
        ).scalar_one()
        labels = conn.execute(select(func.count()).select_from(Label)).scalar_one()
        twice = conn.execute(
            select(Judgment.query_id, Judgment.product_hash, Judgment.model_id)
            .where(Judgment.error.is_(None))
            .group_by(
                Judgment.query_id, Judgment.product_hash, Judgment.model_id, Judgment.prompt_hash
            )
            .having(func.count() > 1)
        ).all()
    assert labels == candidates > 400  # the rest of the run, beyond the first 400
    assert twice == []
