"""The pipeline flow end to end on the sample, killed and resumed; then each flow on its own.

A real process runs ``python -m flows.pipeline`` and is killed (SIGKILL) once the cascade has
written labels; the pipeline then runs again in-process, through a temporary Prefect API, and
must finish with every candidate labelled once, no judgment duplicated, the report written and
the datasets exported. The default three-tier cascade runs (cross-encoder, Gemma 3 270M
in-process and behind a local llama.cpp server); Gemma 270M gives every pair the same grade,
so these tests check the machinery, not the quality.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from datasets import load_from_disk
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from annotator.config import AnnotationConfig
from core.children import descendants
from flows.annotate import annotate
from flows.config import PipelineConfig, load_config
from flows.datasets import build_curriculum, export
from flows.mine import mine
from flows.pipeline import outputs_lines, pipeline
from store.db import open_store
from store.ledger import Flow, find_run, lineage
from store.schema import Candidate, Judgment, Label, Run
from tests.conftest import ROOT, SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("pipeline")
    data = yaml.safe_load((ROOT / "configs" / "sample.yaml").read_text())
    data["workdir"] = str(workdir)
    # Gemma 270M gives every pair one grade and a sample-scale tier 1 is weak: these tests
    # check the machinery, so the random-product sanity gate is relaxed (it has its own tests).
    # The default tiers, each calibrated and tested on at most 16 pairs per split.
    tiers = AnnotationConfig().tiers
    data["annotation"] = {
        "tiers": [
            {**t.model_dump(mode="json", exclude_defaults=True), "max_eval_pairs": 16}
            for t in tiers
        ],
        "injection_pairs": 2,
        "max_random_relevant": 1.0,
        "tier1_training": {"epochs": 1},  # the machinery, not the model: one epoch is enough
    }
    data["flows"] = {"queries_per_batch": 4}
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def config(config_path: Path) -> PipelineConfig:
    return load_config(config_path, environ={})


def _count(engine: Engine, model: Any, *where: Any) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def _guarded_children(parent: int) -> list[int]:
    """Processes started through core.children for ``parent`` (llama.cpp servers)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, PermissionError, NotADirectoryError):
            continue
        if b"core.children" in argv and str(parent).encode() in argv:
            found.append(int(proc.name))
    return found


def _assert_no_server_outlives(parent: int) -> None:
    """The servers a SIGKILLed pipeline started stop on their own within seconds."""
    deadline = time.monotonic() + 15
    while _guarded_children(parent) and time.monotonic() < deadline:
        time.sleep(0.25)
    assert _guarded_children(parent) == [], "a server outlived the killed pipeline"


def _descendants(parent: int) -> dict[int, str]:
    """Every process ``parent`` started, directly or not: pid -> its command line."""
    found = {}
    for pid in descendants(parent):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (FileNotFoundError, ProcessLookupError):
            continue
        found[pid] = argv.decode(errors="replace")
    return found


def _assert_gone(processes: dict[int, str]) -> None:
    """Every process a SIGKILLed pipeline started (its llama.cpp servers, Prefect's temporary
    API server, the reaper) is gone within seconds."""
    deadline = time.monotonic() + 20
    alive = dict(processes)
    while alive and time.monotonic() < deadline:
        alive = {pid: argv for pid, argv in alive.items() if Path(f"/proc/{pid}").exists()}
        time.sleep(0.25)
    assert not alive, f"outlived the killed pipeline: {alive}"


@pytest.fixture(scope="module")
def killed_then_resumed(harness: None, config_path: Path, config: PipelineConfig) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISSENT_", "PREFECT_API"))}
    env["PREFECT_HOME"] = str(config.workdir / "prefect-home")
    command = [
        sys.executable,
        "-m",
        "flows.pipeline",
        "--config",
        str(config_path),
        "--mapping",
        str(SAMPLE / "mapping.yaml"),
    ]
    log = config.workdir / "killed-pipeline.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    # a plain read-only engine to watch: open_store would migrate, and wait on the writer
    watch = create_engine(config.store_url, connect_args={"timeout": 1})
    deadline = time.monotonic() + 900
    killed_at_labels = 0
    watch_error = None
    try:
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            if not (config.workdir / "dissent.db").exists():
                continue
            try:
                killed_at_labels = _count(watch, Label)
            except Exception as exc:  # the pipeline is still creating the schema, or writing
                watch_error = repr(exc)
                continue
            if killed_at_labels > 0:
                break
    finally:
        started = _descendants(process.pid)  # Prefect's temporary server among them
        process.send_signal(signal.SIGKILL)
        process.wait()
        watch.dispose()
    engine = open_store(config.store_url)
    _assert_no_server_outlives(process.pid)
    _assert_gone(started)
    tail = log.read_text(errors="replace")[-3000:]
    assert killed_at_labels > 0, (
        f"the pipeline never reached annotation (exit {process.returncode}, last watch error "
        f"{watch_error}); it wrote:\n{tail}"
    )
    candidates = _count(engine, Candidate)
    assert killed_at_labels < candidates, "killed too late to test resuming"
    result = pipeline(str(config_path), str(SAMPLE / "mapping.yaml"))
    return {"result": result, "engine": engine, "killed_at": killed_at_labels}


def test_the_resumed_pipeline_labels_every_candidate_once(
    killed_then_resumed: dict[str, Any],
) -> None:
    engine: Engine = killed_then_resumed["engine"]
    result = killed_then_resumed["result"]
    candidates = _count(engine, Candidate, Candidate.run_id == result["mining_run"])
    assert candidates > 0
    assert _count(engine, Label) == candidates
    with Session(engine) as session:
        flows = set(session.scalars(select(Run.flow).where(Run.status == "succeeded")))
    # One ledger row per unit of work; flows, the pipeline too, write no rows of their own.
    assert flows == {
        "ingest",
        "mine",
        "train-tier1",
        "calibrate",
        "annotate",
        "curriculum",
        "export",
    }
    # the second run found the killed one's labels and labelled only what was left
    assert result["annotation"]["pairs"] == candidates
    assert result["annotation"]["already_labelled"] >= killed_then_resumed["killed_at"] > 0


def test_the_pipeline_writes_every_output(killed_then_resumed: dict[str, Any]) -> None:
    result = killed_then_resumed["result"]
    assert Path(result["calibration_report"]["html"]).exists()
    export_dir = Path(result["export_dir"])
    for name in ("stage1_bce", "stage2_mnr", "stage3_triplet", "graded"):
        data = load_from_disk(str(export_dir / name))
        assert set(data) == {"train", "validation"}
    assert len(load_from_disk(str(export_dir / "stage1_bce"))["train"]) > 0
    card = Path(result["dataset_card"]).read_text()
    assert f"curriculum build run {result['curriculum_run']}" in card
    lines = outputs_lines(result)
    assert any(str(export_dir) in line for line in lines)
    engine = killed_then_resumed["engine"]
    # No pipeline row: each step's run carries its flow run and the versions it ran with, and
    # the curriculum's lineage leads back to the mining, annotation and calibration runs.
    curriculum = find_run(engine, result["curriculum_run"], Flow.CURRICULUM)
    assert curriculum.versions["tiers"][0]["backend"] == "cross_encoder"
    assert curriculum.versions["prefect"] and curriculum.parameters["prefect_flow_run"]
    found = lineage(engine, curriculum)
    assert found.mining is not None and found.mining.id == result["mining_run"]
    assert found.annotation is not None and found.annotation.versions["prompt"]
    assert found.annotation.parameters["prefect_flow_run"]
    assert found.annotation.cascade_id == found.annotation.counts["cascade_id"]
    assert found.calibration is not None and found.calibration.status == "succeeded"


def test_each_flow_runs_again_on_its_own_and_does_nothing_twice(
    killed_then_resumed: dict[str, Any], config: PipelineConfig
) -> None:
    engine: Engine = killed_then_resumed["engine"]
    judgments = _count(engine, Judgment)
    mined = mine(config)
    assert mined["reused"]
    annotated = annotate(config)
    assert annotated["already_labelled"] == annotated["pairs"] > 0
    assert sum(annotated["model_calls"].values()) == 0
    assert _count(engine, Judgment) == judgments
    built = build_curriculum(config)
    assert built["reused"]
    exported = export(config, output_dir=str(config.workdir / "export-again"))
    assert exported["rows"]["stage1_bce"]["train"] > 0
