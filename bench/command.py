"""What a benchmark writes: the command line that reran it, and the results file.

Settings given through ``DISSENT_*`` environment variables (``DISSENT_CONFIG``,
``DISSENT_ANNOTATION__TIER1_TRAINING__CONSISTENCY_WEIGHT=1``, ...) change what a benchmark
measures as much as its arguments do, so the recorded command carries them in front, quoted
for a POSIX shell: pasting it reruns the same measurement.

    >>> command_line("bench.flips", ["--pairs", "400"], {"DISSENT_X__Y": "a b", "HOME": "/root"})
    "DISSENT_X__Y='a b' python -m bench.flips --pairs 400"
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from core.config import ENV_PREFIX


def command_line(
    module: str,
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``python -m <module> <argv>`` preceded by every ``DISSENT_*`` variable set, sorted.

    ``argv`` defaults to ``sys.argv[1:]`` and ``environ`` to ``os.environ``.
    """
    argv = sys.argv[1:] if argv is None else argv
    environ = os.environ if environ is None else environ
    settings = [
        f"{name}={shlex.quote(value)}"
        for name, value in sorted(environ.items())
        if name.startswith(ENV_PREFIX)
    ]
    return " ".join([*settings, "python", "-m", module, *map(shlex.quote, argv)])


def _plain(value: Any) -> Any:
    """A JSON value for what ``json`` cannot write: numpy scalars as numbers, the rest as text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def write_results(path: Path, result: Mapping[str, Any]) -> None:
    """Write ``result`` as indented JSON to ``path`` (its folder made if missing), and say so."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=_plain) + "\n")
    print(f"wrote {path}")
