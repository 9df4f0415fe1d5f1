"""The annotator end to end on the shipped sample with the offline default tiers.

Tier 1 is the cross-encoder trained here on the sample's tier-training split; tiers 2 and 3
are the packaged Gemma 3 270M in-process and behind a local llama.cpp server. Gemma 270M gives
every pair the same grade, so these tests check the machinery, not the quality.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from annotator import service
from annotator.backends.base import Backend, Pair
from annotator.backends.cross_encoder import CrossEncoderBackend
from annotator.evaluate import CalibrationOutcome
from annotator.service import annotate, calibrate, train_tier1
from core.errors import DissentError
from flows.config import PipelineConfig, load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from store.db import open_store
from store.schema import Calibration, Candidate, Judgment, Label
from tests.conftest import ROOT, SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("annotator-service")


@pytest.fixture(scope="module")
def config(workdir: Path) -> PipelineConfig:
    cfg = load_config(ROOT / "configs/sample.yaml", environ={})
    cfg.workdir = workdir
    cfg.store.url = f"sqlite:///{workdir / 'store.db'}"
    cfg.annotation.max_pairs_per_split = 24
    cfg.annotation.injection_pairs = 4
    cfg.annotation.random_pairs = 24
    cfg.annotation.max_random_relevant = 1.0  # two epochs on ~150 pairs; gate tested below
    return cfg


@pytest.fixture(scope="module")
def store(config: PipelineConfig) -> Engine:
    engine = open_store(config.store_url)
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    mine(engine, config)
    train_tier1(engine, config, epochs=2)
    return engine


@pytest.fixture(scope="module")
def calibrated(store: Engine, config: PipelineConfig) -> tuple[CalibrationOutcome, dict[str, Path]]:
    return calibrate(store, config)


def test_calibrate_writes_the_report_and_stores_calibrations(
    calibrated: tuple[CalibrationOutcome, dict[str, Path]], store: Engine
) -> None:
    outcome, paths = calibrated
    assert [t.name for t in outcome.tiers] == [
        "cross-encoder",
        "gemma-270m",
        "gemma-270m-server",
    ]
    assert len(outcome.cascade.thresholds) == len(outcome.cascade.route) - 1
    assert outcome.splits["calibration"]["pairs"] <= 24 and outcome.splits["test"]["pairs"] <= 24
    cascade = outcome.cascade
    assert abs(sum(cascade.decided_share.values()) - 1.0) < 1e-9
    assert 0 < cascade.cost_share_of_top_tier <= 1.0 + 1e-9
    for tier in outcome.tiers:
        assert tier.calibrated.coverage == 1.0, tier.name
    # the injection flip rate, per tier and for the cascade
    for rate in [t.flip_rate for t in outcome.tiers] + [cascade.flip_rate]:
        assert rate is not None and 0.0 <= rate <= 1.0
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Calibration)).scalar_one() == 3
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "report.html"}
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "Compute: " in paths["markdown"].read_text()


def test_report_renders_its_plots_in_headless_chromium(
    calibrated: tuple[CalibrationOutcome, dict[str, Path]], tmp_path: Path
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (Debian package `chromium`)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from PIL import Image

    _, paths = calibrated
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={shot}",
            "--window-size=1400,2600",
            paths["html"].as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000) or []
    # matplotlib's tab:blue and tab:red appear only if the plots were decoded and drawn
    present = {rgb for _, rgb in colours}
    assert (31, 119, 180) in present and (214, 39, 40) in present
    assert (
        sum(count for count, rgb in colours if rgb != (255, 255, 255))
        > 0.05 * image.width * image.height
    )


def test_annotate_grades_candidates_and_a_rerun_is_all_cache_hits(
    calibrated: object, store: Engine, config: PipelineConfig
) -> None:
    first = annotate(store, config, limit=40)
    assert first.pairs == 40 and sum(first.decided_by.values()) + first.failed == 40
    read: list[int] = []
    real = service.with_product_fields

    def spy(engine: Engine, pairs: Sequence[Pair]) -> list[Pair]:
        read.append(len(pairs))
        return real(engine, pairs)

    built: list[Backend] = []
    real_build = service.build_backend

    def build(*args: Any, **kwargs: Any) -> Backend:
        built.append(real_build(*args, **kwargs))
        return built[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(service, "with_product_fields", spy)
        patch.setattr(service, "build_backend", build)
        again = annotate(store, config, limit=40)
    assert again.already_labelled == 40 and sum(again.model_calls.values()) == 0
    # a run with nothing to grade reads no product and loads no cross-encoder weights
    assert read == [] and built
    assert all(not b.loaded for b in built if isinstance(b, CrossEncoderBackend))


def test_agreement_gate_fails_the_run_after_writing_the_report(
    calibrated: object, store: Engine, config: PipelineConfig, tmp_path: Path
) -> None:
    strict = config.model_copy(deep=True)
    strict.annotation.min_qwk = 0.999
    with pytest.raises(DissentError, match="agreement gate failed"):
        calibrate(store, strict, tmp_path / "strict")
    assert (tmp_path / "strict" / "report.html").exists()
    # the sanity gate: a cascade that grades random products relevant fails too
    outcome, _ = calibrated  # type: ignore[misc]
    assert outcome.cascade.random_relevant is not None and outcome.cascade.random_relevant > 0
    sane = config.model_copy(deep=True)
    sane.annotation.max_random_relevant = 0.0
    with pytest.raises(DissentError, match="random products graded relevant"):
        calibrate(store, sane, tmp_path / "sane")


def _annotate_process(
    config: PipelineConfig, batch_size: int, limit: int | None = None
) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a ``dissent annotate`` process on this store."""
    env = {
        **os.environ,
        "DISSENT_STORE__URL": config.store_url,
        "DISSENT_WORKDIR": str(config.workdir),
        "DISSENT_ANNOTATION__BATCH_SIZE": str(batch_size),
        "DISSENT_ANNOTATION__MAX_PAIRS_PER_SPLIT": "24",
        "DISSENT_ANNOTATION__INJECTION_PAIRS": "4",
    }
    command = [str(Path(sys.executable).parent / "dissent"), "annotate"]
    command += ["--config", str(ROOT / "configs/sample.yaml")]
    return command + (["--limit", str(limit)] if limit else []), env


def test_killed_annotation_resumes_without_losing_or_duplicating(
    calibrated: object, store: Engine, config: PipelineConfig
) -> None:
    command, env = _annotate_process(config, batch_size=4, limit=400)

    def count(table: type) -> int:
        with store.connect() as conn:
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
    with store.connect() as conn:
        duplicated = conn.execute(
            select(Judgment.query_id, Judgment.product_hash, Judgment.model_id, func.count())
            .where(Judgment.error.is_(None))
            .group_by(
                Judgment.query_id, Judgment.product_hash, Judgment.model_id, Judgment.prompt_hash
            )
            .having(func.count() > 1)
        ).all()
    assert duplicated == []


def test_two_annotate_processes_on_one_run_share_it(
    calibrated: object, store: Engine, config: PipelineConfig
) -> None:
    """Two ``dissent annotate`` processes at once on the same SQLite store and mining run:
    both finish (no "database is locked"), every candidate is labelled once, no model call is
    made twice. (On PostgreSQL: tests/flows/test_scale_out.py.)"""
    command, env = _annotate_process(config, batch_size=8)
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=900) for p in processes]
    for process, (_, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr[-2000:]
    with store.connect() as conn:
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
