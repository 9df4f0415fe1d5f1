"""The command line as a user meets it: one line per command, one line per mistake.

Every case runs in-process with Typer's ``CliRunner`` (a ``dissent`` start costs a second of
imports); one smoke test starts the installed ``dissent`` binary, entry point included.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner, Result

from cli import app
from tests.conftest import ROOT, SAMPLE

DISSENT = str(Path(sys.executable).parent / "dissent")


def _environment(env: dict[str, str] | None) -> dict[str, str | None]:
    """This process's environment without its DISSENT_* variables, plus ``env``."""
    overrides: dict[str, str | None] = {k: None for k in os.environ if k.startswith("DISSENT_")}
    overrides.update(env or {})
    return overrides


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """``dissent ARGS`` in-process: exit code, stdout and stderr as a user would see them.

    Only handled exits (``SystemExit``) come back as a result; any other exception (a crash,
    which a user would see as a traceback) propagates and fails the test.
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the CLI's logging setup is per process
    try:
        return CliRunner().invoke(app, list(args), env=_environment(env), catch_exceptions=False)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def error_line(done: Result) -> str:
    """The message of a run that failed on a user mistake: exit 1 and one line on stderr."""
    assert done.exit_code == 1, done.output
    assert isinstance(done.exception, SystemExit)  # handled: a crash would have raised in run()
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_the_installed_binary_ingests_then_reports_status(tmp_path: Path) -> None:
    """End-to-end smoke test: the console script, as a user starts it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISSENT_")}
    env |= {
        "DISSENT_STORE__URL": f"sqlite:///{tmp_path / 's.db'}",
        "DISSENT_WORKDIR": str(tmp_path / "work"),
    }

    def dissent(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DISSENT, *args], capture_output=True, text=True, env=env, timeout=120, check=False
        )

    done = dissent("ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"))
    assert done.returncode == 0, done.stderr
    assert "catalog:" in done.stdout and "labels:" in done.stdout
    status = dissent("status")
    assert status.returncode == 0, status.stderr
    assert "human_labels" in status.stdout and "ingest" in status.stdout


def test_help_lists_every_command_in_one_line() -> None:
    done = run("--help")
    assert done.exit_code == 0
    for command in ("ingest", "config", "status"):
        assert any(line.strip("│ ").startswith(command) for line in done.stdout.splitlines()), (
            command
        )


def test_config_show_prints_the_effective_config() -> None:
    done = run("config", "show", env={"DISSENT_MINING__TOP_K": "77"})
    assert done.exit_code == 0, done.stderr
    shown = yaml.safe_load(done.stdout)
    assert shown["mining"]["top_k"] == 77
    assert shown["annotation"]["tiers"][0]["backend"] == "cross_encoder"


def test_unknown_config_key_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mining: {topk: 3}\n")
    done = run("config", "show", "--config", str(path))
    assert "unknown key 'mining.topk'" in error_line(done)


def test_user_text_in_an_error_is_printed_as_is_not_as_markup(tmp_path: Path) -> None:
    path = tmp_path / "ok[/x]" / "c[bold].yaml"  # rich markup in a path: shown verbatim
    done = run("config", "show", "--config", str(path))
    assert error_line(done) == f"error: config file {path} does not exist"


def test_train_and_evaluate_refuse_bad_arguments_in_one_line(tmp_path: Path) -> None:
    env = {"DISSENT_WORKDIR": str(tmp_path)}
    line = error_line(run("train", "--recipe", "bogus", env=env))
    assert "unknown recipe(s) bogus; choose from human, mixed, staged" in line
    assert "expected NAME=PATH" in error_line(run("evaluate", "--model", "nopath", env=env))
    assert "no evaluation queries" in error_line(run("evaluate", env=env))


def test_a_usage_error_exits_2() -> None:
    done = run("config", "show", "--no-such-option")
    assert done.exit_code == 2
    assert "No such option: --no-such-option" in done.stderr


def test_bad_input_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "catalog.jsonl"
    bad.write_text('{"product_id": "P1", "title": ""}\n')
    done = run(
        "ingest",
        "catalog",
        str(bad),
        "--mapping",
        str(SAMPLE / "mapping.yaml"),
        env={"DISSENT_STORE__URL": f"sqlite:///{tmp_path / 's.db'}"},
    )
    assert "missing field(s) 'description'" in error_line(done)


def test_ingest_mine_then_status(tmp_path: Path) -> None:
    env = {
        "DISSENT_STORE__URL": f"sqlite:///{tmp_path / 's.db'}",
        "DISSENT_WORKDIR": str(tmp_path / "work"),
    }
    done = run("ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"), env=env)
    assert done.exit_code == 0, done.stderr
    assert "catalog:" in done.stdout and "labels:" in done.stdout
    mined = run("mine", "--config", str(ROOT / "configs/sample.yaml"), env=env)
    assert mined.exit_code == 0, mined.stderr
    assert "overlap@40 (Jaccard): bm25|dense" in mined.stdout
    assert "candidates: easy_positive" in mined.stdout
    assert (tmp_path / "work" / "indexes" / "dense" / "index.faiss").exists()
    status = run("status", env=env)
    assert status.exit_code == 0, status.stderr
    assert "human_labels" in status.stdout and "ingest" in status.stdout and "mine" in status.stdout


def test_mine_on_an_empty_store_is_one_line(tmp_path: Path) -> None:
    done = run("mine", env={"DISSENT_STORE__URL": f"sqlite:///{tmp_path / 'e.db'}"})
    line = error_line(done)
    assert "nothing to mine" in line and "dissent ingest" in line


def test_prompts_show_renders_a_pair() -> None:
    done = run("prompts", "show", "--query", "cordles drill")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.startswith("prompt grading version ")
    assert "Query: cordles drill" in done.stdout and "<product>" in done.stdout
