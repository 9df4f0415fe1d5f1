"""Calibrating the offline default tiers on the shipped sample (annotator.calibrating).

Tier 1 is the cross-encoder trained on the sample's tier-training split; tiers 2 and 3 are the
packaged Gemma 3 270M in-process and behind a local llama.cpp server (fixtures in
conftest.py). Gemma 270M gives every pair the same grade, so these tests check the machinery,
not the quality.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from annotator.calibrating import calibrate
from annotator.outcome import CalibrationOutcome
from core.errors import DissentError
from flows.config import PipelineConfig
from store.schema import Calibration
from tests.annotator.conftest import EVAL_PAIRS

pytestmark = pytest.mark.slow


def test_calibrate_writes_the_report_and_stores_calibrations(
    calibrated: tuple[CalibrationOutcome, dict[str, Path]], sample_store: Engine
) -> None:
    outcome, paths = calibrated
    assert [t.name for t in outcome.tiers] == [
        "cross-encoder",
        "gemma-270m",
        "gemma-270m-server",
    ]
    assert len(outcome.cascade.thresholds) == len(outcome.cascade.route) - 1
    for tier in outcome.tiers:  # each tier on its seeded subsample of whole queries
        assert 0 < tier.pairs["calibration"] <= EVAL_PAIRS and 0 < tier.pairs["test"] <= EVAL_PAIRS
    cascade = outcome.cascade
    assert abs(sum(cascade.decided_share.values()) - 1.0) < 1e-9
    assert 0 < cascade.cost_share_of_top_tier <= 1.0 + 1e-9
    for tier in outcome.tiers:
        assert tier.calibrated.coverage == 1.0, tier.name
    # the injection flip rate, per tier and for the cascade
    for rate in [t.flip_rate for t in outcome.tiers] + [cascade.flip_rate]:
        assert rate is not None and 0.0 <= rate <= 1.0
    with sample_store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Calibration)).scalar_one() == 3
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "report.html"}
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "Compute: " in paths["markdown"].read_text()
    # the human labels, counted per source (the sample's own), recorded for the next run
    assert {split: set(by) for split, by in outcome.labels.items()} == {
        "calibration": {"sample"},
        "test": {"sample"},
    }
    assert outcome.labels["test"]["sample"] == outcome.splits["test"]["pairs"]
    assert "Human labels by source: calibration: " in paths["markdown"].read_text()


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


def test_agreement_gate_fails_the_run_after_writing_the_report(
    calibrated: tuple[CalibrationOutcome, dict[str, Path]],
    sample_store: Engine,
    sample_config: PipelineConfig,
    tmp_path: Path,
) -> None:
    strict = sample_config.model_copy(deep=True)
    strict.annotation.min_qwk = 0.999
    with pytest.raises(DissentError, match="agreement gate failed"):
        calibrate(sample_store, strict, tmp_path / "strict")
    assert (tmp_path / "strict" / "report.html").exists()
    # the sanity gate: a cascade that grades random products relevant fails too
    outcome, _ = calibrated
    assert outcome.cascade.random_relevant is not None and outcome.cascade.random_relevant > 0
    sane = sample_config.model_copy(deep=True)
    sane.annotation.max_random_relevant = 0.0
    with pytest.raises(DissentError, match="random products graded relevant"):
        calibrate(sample_store, sane, tmp_path / "sane")
