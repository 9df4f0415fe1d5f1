"""Child processes that never outlive the process that started them.

A server Dissent starts (a local llama.cpp server for a tier) must stop when Dissent stops,
even when Dissent is killed with SIGKILL and cannot clean up. :func:`guarded_command` wraps a
``python -m <module>`` command line so that it runs under this module's ``__main__``: a
daemon thread watches the parent process and, once the parent is gone (the child is
reparented), exits the child. This watches the *process*; Linux's parent-death signal
(``PR_SET_PDEATHSIG``) would fire when the starting *thread* exits, and Dissent starts servers
from task threads that end long before the process does.

Servers that libraries start on their own — Prefect's temporary API server, when no
``PREFECT_API_URL`` is set — cannot be wrapped. For those, :func:`reap_children_on_exit` starts
one small *reaper* process that notes the starting process's children while it lives and,
once it is gone, terminates the ones still running (SIGTERM, then SIGKILL after a grace
period). Both read ``/proc``: Linux only, and a no-op elsewhere.

Example:
    >>> guarded_command("llama_cpp.server", ["--port", "8080"], parent=1234)[1:]
    ['-m', 'core.children', '1234', 'llama_cpp.server', '--port', '8080']
"""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["descendants", "guarded_command", "reap_children_on_exit"]

POLL_S = 0.5
GRACE_S = 5.0
_REAPER: subprocess.Popen[bytes] | None = None


def guarded_command(module: str, args: Sequence[str], *, parent: int | None = None) -> list[str]:
    """The command line that runs ``python -m module args`` until ``parent`` (default: this
    process) exits."""
    pid = os.getpid() if parent is None else parent
    return [sys.executable, "-m", "core.children", str(pid), module, *args]


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os._exit(0)  # the parent is gone: stop at once, whatever the module is doing


def reap_children_on_exit() -> None:
    """Start (once per process) the reaper of this process's children (module docstring)."""
    global _REAPER
    if _REAPER is not None or not Path("/proc").is_dir():
        return
    _REAPER = subprocess.Popen(
        [sys.executable, "-m", "core.children", "--reap", str(os.getpid())],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a signal to the process group does not take the reaper too
    )


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of a live process, or None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return (int(fields[1]), fields[19]) if fields[0] != "Z" else None


def descendants(parent: int) -> dict[int, str]:
    """Every live descendant of ``parent``: pid -> start time (to survive pid reuse)."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = found
    out: dict[int, str] = {}
    frontier = [parent]
    while frontier:
        current = frontier.pop()
        for pid, (ppid, started) in table.items():
            if ppid == current and pid not in out:
                out[pid] = started
                frontier.append(pid)
    return out


def _living(processes: dict[int, str]) -> dict[int, str]:
    """The processes (pid → start time) still running: same pid and the same start time."""
    return {pid: t for pid, t in processes.items() if (s := _stat(pid)) and s[1] == t}


def _reap(parent: int) -> None:
    """Note ``parent``'s descendants while it lives; end them once it is gone."""
    seen: dict[int, str] = {}
    while _stat(parent) is not None:
        seen.update(descendants(parent))
        seen.pop(os.getpid(), None)  # not the reaper itself
        seen = _living(seen)
        time.sleep(POLL_S)
    alive = _living(seen)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + GRACE_S
        while time.monotonic() < deadline:
            alive = _living(alive)
            if not alive:
                return
            time.sleep(0.1)


def main(argv: Sequence[str]) -> None:
    """``python -m core.children PARENT_PID MODULE [ARGS...]`` or ``--reap PARENT_PID``."""
    if argv and argv[0] == "--reap":
        _reap(int(argv[1]))
        return
    parent, module, *args = argv
    if os.getppid() != int(parent):  # the parent died before we got here
        return
    threading.Thread(target=_watch, args=(int(parent),), daemon=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
