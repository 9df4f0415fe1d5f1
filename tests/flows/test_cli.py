"""The command line as a user meets it: one line per command, one line per mistake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT, SAMPLE

DISSENT = str(Path(sys.executable).parent / "dissent")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DISSENT_")}
    full_env.update(env or {})
    return subprocess.run(
        [DISSENT, *args], capture_output=True, text=True, env=full_env, timeout=120, check=False
    )


def test_help_lists_every_command_in_one_line() -> None:
    done = run("--help")
    assert done.returncode == 0
    for command in ("ingest", "config", "status"):
        assert any(line.strip("│ ").startswith(command) for line in done.stdout.splitlines()), (
            command
        )


def test_config_show_prints_the_effective_config() -> None:
    done = run("config", "show", env={"DISSENT_MINING__TOP_K": "77"})
    assert done.returncode == 0, done.stderr
    shown = yaml.safe_load(done.stdout)
    assert shown["mining"]["top_k"] == 77
    assert shown["annotation"]["tiers"][0]["backend"] == "cross_encoder"


def test_unknown_config_key_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mining: {topk: 3}\n")
    done = run("config", "show", "--config", str(path))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown key 'mining.topk'" in lines[0]


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
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "missing field(s) 'description'" in done.stderr.replace("\n", "")


def test_ingest_mine_then_status(tmp_path: Path) -> None:
    env = {
        "DISSENT_STORE__URL": f"sqlite:///{tmp_path / 's.db'}",
        "DISSENT_WORKDIR": str(tmp_path / "work"),
    }
    done = run("ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"), env=env)
    assert done.returncode == 0, done.stderr
    assert "catalog:" in done.stdout and "labels:" in done.stdout
    mined = run("mine", "--config", str(ROOT / "configs/sample.yaml"), env=env)
    assert mined.returncode == 0, mined.stderr
    assert "overlap@40 (Jaccard): bm25|dense" in mined.stdout
    assert "candidates: easy_positive" in mined.stdout
    assert (tmp_path / "work" / "indexes" / "dense" / "index.faiss").exists()
    status = run("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "human_labels" in status.stdout and "ingest" in status.stdout and "mine" in status.stdout


def test_mine_on_an_empty_store_is_one_line(tmp_path: Path) -> None:
    done = run("mine", env={"DISSENT_STORE__URL": f"sqlite:///{tmp_path / 'e.db'}"})
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "nothing to mine" in done.stderr and "dissent ingest" in done.stderr


def test_prompts_show_renders_a_pair() -> None:
    done = run("prompts", "show", "--query", "cordles drill")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("prompt grading version ")
    assert "Query: cordles drill" in done.stdout and "<product>" in done.stdout
