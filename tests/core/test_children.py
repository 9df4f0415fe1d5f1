"""A guarded child exits when the process that started it is killed (SIGKILL, no clean-up)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.children import guarded_command


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def _child_dies_with_its_killed_parent(tmp_path: Path, starts_child: str) -> None:
    """A parent runs ``starts_child`` (code that binds ``child`` to a Popen), writes the child's
    pid and waits; it is SIGKILLed, and the child must be gone within seconds."""
    pid_file = tmp_path / "child.pid"
    parent_code = (
        "import subprocess, sys, time\n"
        + starts_child
        + f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        + "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "the parent never started its child"
            time.sleep(0.1)
        child = int(pid_file.read_text())
        time.sleep(1.5)  # the reaper, where there is one, polls every 0.5 s
        assert _alive(child), "the child should run while its parent lives"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 15
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the child outlived its killed parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        left = int(pid_file.read_text()) if pid_file.exists() and pid_file.read_text() else None
        if left is not None and _alive(left):
            os.kill(left, signal.SIGKILL)


def test_the_child_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    # The parent starts a guarded `python -m http.server`.
    _child_dies_with_its_killed_parent(
        tmp_path,
        "from core.children import guarded_command\n"
        "child = subprocess.Popen(guarded_command('http.server', ['0', '--bind', '127.0.0.1']),"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n",
    )


def test_the_reaper_ends_unguarded_children_of_a_killed_process(tmp_path: Path) -> None:
    # What Prefect does with its temporary server: a plain child, started by a library
    _child_dies_with_its_killed_parent(
        tmp_path,
        "from core.children import reap_children_on_exit\n"
        "reap_children_on_exit()\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n",
    )


def test_the_command_runs_the_module_under_the_guard() -> None:
    command = guarded_command("llama_cpp.server", ["--port", "1"])
    assert command[:4] == [sys.executable, "-m", "core.children", str(os.getpid())]
    assert command[4:] == ["llama_cpp.server", "--port", "1"]
