"""`dissent train` and `dissent evaluate` as a new user meets them: every bad path is one red
line and exit 1 before any work, and a model folder trained on other data is never handed back.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cli import app
from flows.config import PipelineConfig
from retriever import trainer
from tests.retriever.conftest import HandStore


def run(*args: str, env: dict[str, str]) -> Result:
    """``dissent ARGS`` in-process; a crash (a traceback for a user) fails the test."""
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DISSENT_")}
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return CliRunner().invoke(app, list(args), env={**overrides, **env}, catch_exceptions=False)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def error_line(done: Result) -> str:
    assert done.exit_code == 1, done.output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


class FakeModel:
    """Stands in for a SentenceTransformer: saving writes a marker file."""

    device = "cpu"

    def save(self, path: str) -> None:
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "model.safetensors").write_text("fake")


@pytest.fixture
def no_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Training replaced by a stand-in that records what it was asked to load."""
    loaded: list[str] = []

    def load(path: str, max_length: int) -> FakeModel:
        loaded.append(path)
        return FakeModel()

    monkeypatch.setattr(trainer, "load_model", load)
    monkeypatch.setattr(trainer, "train_stage", lambda *a, **k: 0.5)
    return loaded


def _env(cfg: PipelineConfig) -> dict[str, str]:
    return {
        "DISSENT_WORKDIR": str(cfg.workdir),
        "DISSENT_STORE__URL": f"sqlite:///{cfg.workdir / 'store.db'}",
    }


def test_evaluating_a_model_that_is_not_there(tmp_path: Path) -> None:
    line = error_line(
        run("evaluate", "--model", "x=/nonexistent", env=_env(PipelineConfig(workdir=tmp_path)))
    )
    assert line.startswith("error: model x: /nonexistent does not exist; name the folder")


def test_a_report_that_cannot_be_written_is_refused_before_scoring(
    tmp_path: Path, no_training: list[str]
) -> None:
    (tmp_path / "file").write_text("")
    env = _env(PipelineConfig(workdir=tmp_path))
    line = error_line(run("evaluate", "--output", str(tmp_path / "file" / "eval.json"), env=env))
    assert f"cannot write the evaluation report to {tmp_path / 'file'}" in line
    line = error_line(run("evaluate", "--output", str(tmp_path), env=env))
    assert "it is a folder; name a file" in line


def test_training_on_an_export_that_is_not_there(tmp_path: Path, no_training: list[str]) -> None:
    env = _env(PipelineConfig(workdir=tmp_path))
    line = error_line(run("train", "--export", "/nonexistent", "--recipe", "mixed", env=env))
    assert line == (
        "error: no curriculum export at /nonexistent: the folder does not exist; run `dissent "
        "export` first, or pass --export with the folder it wrote"
    )
    assert f"no curriculum export at {tmp_path.resolve() / 'export'}" in error_line(
        run("train", env=env)
    )
    assert no_training == []


def test_nothing_to_train_is_said_before_a_model_loads(
    exported: tuple[HandStore, PipelineConfig], no_training: list[str]
) -> None:
    _, cfg = exported  # no human labels in the hand store
    line = error_line(run("train", "--recipe", "human", env=_env(cfg)))
    assert "stage human has no training examples" in line
    assert "unknown recipe(s) staged-masked" in error_line(
        run("train", "--recipe", "staged-masked", env=_env(cfg))
    )
    assert no_training == []


def test_a_model_trained_on_another_export_is_trained_again(
    exported: tuple[HandStore, PipelineConfig], no_training: list[str]
) -> None:
    """What `dissent train --export X --recipe mixed` did before: resume from a progress.json
    whose stages were all done on other data and hand that model back in seconds."""
    _, cfg = exported
    folder = cfg.workdir / "models" / "mixed"
    stale = {"data": "mixed", "loss": "mnr", "examples": 9, "seconds": 1.0}
    FakeModel().save(str(folder / "stage-1-mixed"))
    (folder / "progress.json").write_text(
        json.dumps({"done": [{**stale, "path": str(folder / "stage-1-mixed")}]})
    )
    FakeModel().save(str(folder / "final"))
    (folder / "final" / "dissent-train.json").write_text(json.dumps({"identity": "other data"}))
    done = run("train", "--recipe", "mixed", env=_env(cfg))
    assert done.exit_code == 0, done.output
    assert len(no_training) == 1 and "stage-1" not in no_training[0]  # from the base model
    meta: dict[str, Any] = json.loads((folder / "final" / "dissent-train.json").read_text())
    assert meta["identity"] != "other data" and meta["stages"][0]["examples"] == 8
    assert done.stdout.splitlines()[0].startswith(f"mixed: {folder / 'final'} [mixed 8 (")
    # run again: the same data and settings, handed back without loading anything
    again = run("train", "--recipe", "mixed", env=_env(cfg))
    assert again.exit_code == 0 and len(no_training) == 1
    assert "trained by run" in again.stdout
