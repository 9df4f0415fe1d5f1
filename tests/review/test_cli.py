"""``dissent review``, ``review add-user`` and ``review fill`` as a user meets them (in-process,
Typer's ``CliRunner``; serving is stopped short of listening)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from typer.testing import CliRunner, Result

from cli import app
from flows.config import load_config
from review.people import authenticate
from store.db import open_store
from tests.review.conftest import build_store


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "dissent.yaml"
    path.write_text(
        yaml.safe_dump(
            {"workdir": str(tmp_path / "work"), "splits": {"fractions": [0.5, 0.5, 0.0, 0.0]}}
        )
    )
    return path


def run(*args: str) -> Result:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DISSENT_")}
    try:
        return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        root.handlers[:], root.level = handlers, level


def test_add_user_shows_the_token_once(config_file: Path) -> None:
    added = run("review", "add-user", "ann", "-c", str(config_file))
    assert added.exit_code == 0, added.output
    said, token = added.stdout.strip().splitlines()
    assert "shown only now" in said
    engine = open_store(load_config(config_file, environ={}).store_url)
    person = authenticate(engine, token)
    assert person is not None and person.name == "ann"
    again = run("review", "-c", str(config_file), "add-user", "ann")  # -c before the command
    assert again.exit_code == 1 and "already a reviewer named 'ann'" in again.stderr
    assert run("review", "-c", str(config_file), "add-user", "<b>").exit_code == 1


def test_fill_queues_and_says_what(config_file: Path) -> None:
    nothing = run("review", "fill", "-c", str(config_file))
    assert nothing.exit_code == 1 and "run `dissent mine` first" in nothing.stderr
    build_store(open_store(load_config(config_file, environ={}).store_url))
    filled = run("review", "fill", "-c", str(config_file), "--n", "7", "--strategy", "random")
    assert filled.exit_code == 0, filled.output
    assert filled.stdout.startswith("queued 7 pairs (random; ")
    assert run("review", "fill", "--strategy", "best").exit_code == 2


def test_serving_warns_off_loopback(config_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda app, **kw: served.append({"app": app, **kw}))
    local = run("review", "-c", str(config_file))
    assert local.exit_code == 0 and "warning" not in local.stderr
    assert "http://127.0.0.1:8765/" in local.stdout
    wide = run("review", "-c", str(config_file), "--host", "0.0.0.0", "--port", "9000")
    assert wide.exit_code == 0 and "warning: listening on 0.0.0.0, not loopback" in wide.stderr
    assert [(s["host"], s["port"]) for s in served] == [("127.0.0.1", 8765), ("0.0.0.0", 9000)]
    assert isinstance(served[0]["app"], FastAPI)
    assert "warning" not in run("review", "-c", str(config_file), "--host", "::1").stderr
