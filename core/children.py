"""Child processes that never outlive the process that started them.

A server Dissent starts (a local llama.cpp server for a tier) must stop when Dissent stops,
even when Dissent is killed with SIGKILL and cannot clean up. :func:`guarded_command` wraps a
``python -m <module>`` command line so that it runs under this module's ``__main__``: a
daemon thread watches the parent process and, once the parent is gone (the child is
reparented), exits the child. This watches the *process*; Linux's parent-death signal
(``PR_SET_PDEATHSIG``) would fire when the starting *thread* exits, and Dissent starts servers
from task threads that end long before the process does.

Example:
    >>> guarded_command("llama_cpp.server", ["--port", "8080"], parent=1234)[1:]
    ['-m', 'core.children', '1234', 'llama_cpp.server', '--port', '8080']
"""

from __future__ import annotations

import os
import runpy
import sys
import threading
import time
from collections.abc import Sequence

__all__ = ["guarded_command"]

POLL_S = 0.5


def guarded_command(module: str, args: Sequence[str], *, parent: int | None = None) -> list[str]:
    """The command line that runs ``python -m module args`` until ``parent`` (default: this
    process) exits."""
    pid = os.getpid() if parent is None else parent
    return [sys.executable, "-m", "core.children", str(pid), module, *args]


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os._exit(0)  # the parent is gone: stop at once, whatever the module is doing


def main(argv: Sequence[str]) -> None:
    """``python -m core.children PARENT_PID MODULE [ARGS...]``."""
    parent, module, *args = argv
    if os.getppid() != int(parent):  # the parent died before we got here
        return
    threading.Thread(target=_watch, args=(int(parent),), daemon=True).start()
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
