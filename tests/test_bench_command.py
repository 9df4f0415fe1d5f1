"""The command a benchmark records reruns the same measurement when pasted into a shell; its
results file holds plain JSON."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np

from bench.command import command_line, write_results


def test_the_recorded_command_carries_the_dissent_settings_and_quotes_them() -> None:
    environ = {
        "DISSENT_ANNOTATION__TIER1_TRAINING__CONSISTENCY_WEIGHT": "0.5",
        "DISSENT_TRAIN__RECIPES": "[human, mixed]",
        "PATH": "/usr/bin",
    }
    line = command_line("bench.annotation", ["--output", "a b.json"], environ)

    words = shlex.split(line)
    assert words == [
        "DISSENT_ANNOTATION__TIER1_TRAINING__CONSISTENCY_WEIGHT=0.5",
        "DISSENT_TRAIN__RECIPES=[human, mixed]",
        "python",
        "-m",
        "bench.annotation",
        "--output",
        "a b.json",
    ]


def test_without_settings_the_command_is_the_module_and_its_arguments() -> None:
    assert command_line("bench.flips", [], {"HOME": "/root"}) == "python -m bench.flips"


def test_write_results_writes_numpy_numbers_as_numbers(tmp_path: Path) -> None:
    path = tmp_path / "results" / "x.json"
    write_results(path, {"qwk": np.float32(0.5), "n": np.int64(3), "where": tmp_path})
    assert json.loads(path.read_text()) == {"qwk": 0.5, "n": 3, "where": str(tmp_path)}
    assert path.read_text().endswith("}\n")
