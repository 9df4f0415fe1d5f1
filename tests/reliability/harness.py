"""Run the ``dissent`` command line in a real process and break it at a chosen moment.

A test harness (``python -m tests.reliability.harness ARGS...`` takes the arguments of
``dissent``). A *moment* is the process's Nth event: a database statement about to be sent
(SQLAlchemy's ``before_cursor_execute``, so inside open transactions as well as between them),
or a folder renamed or removed (the export's staging swap). Environment variables choose what
happens:

- ``DISSENT_TEST_EVENTS=FILE``: at a normal exit, write the number of events seen to FILE (an
  uninterrupted run counts its moments; a test then draws kill moments from that range).
- ``DISSENT_TEST_KILL_AT=N``: SIGKILL the process just before its Nth event (no cleanup, no
  ``finally``, no atexit: what a power cut or the OOM killer does).
- ``DISSENT_TEST_TERMINATE_AT=N``: just before the Nth *database* event, have PostgreSQL end
  the backend serving that connection (``pg_terminate_backend`` from a second connection), as
  a server restart or a DBA would; the statement then fails on a dead connection.
- ``DISSENT_TEST_SCRIPTED_TIERS=1``: every annotation tier is a scripted backend whose answer
  depends only on the pair (:func:`scripted_answer`), so runs compare exactly: these tests are
  about what reaches the store, not about the models (tests/annotator covers the real ones).
"""

from __future__ import annotations

import atexit
import faulthandler
import hashlib
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

__all__ = ["HANG_S", "scripted_answer", "scripted_backend"]

HANG_S = 240  # no command of these tests takes this long on the sample


def scripted_answer(pair: Any) -> list[float]:
    """A grade distribution that depends only on the query text and the product's content."""
    key = f"{pair.query}\x00{pair.product_hash}".encode()
    digest = hashlib.sha256(key).digest()
    weights = [1.0 + digest[i] for i in range(4)]
    total = sum(weights)
    return [w / total for w in weights]


def scripted_backend(tier: Any, workdir: Path, precision: str = "auto") -> Any:
    """Stands in for ``annotator.backends.registry.build_backend``."""
    from annotator.backends.scripted import ScriptedBackend

    return ScriptedBackend(tier.name, scripted_answer)


class _Moments:
    def __init__(self) -> None:
        self.seen = 0
        self.kill_at = int(os.environ.get("DISSENT_TEST_KILL_AT", "0"))
        self.terminate_at = int(os.environ.get("DISSENT_TEST_TERMINATE_AT", "0"))

    def event(self) -> None:
        self.seen += 1
        if self.seen == self.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    def statement(self, conn: Any, *_: Any) -> None:
        self.event()
        if self.seen == self.terminate_at:
            _terminate_backend(conn)


def _terminate_backend(conn: Any) -> None:
    import psycopg

    pid = conn.connection.dbapi_connection.info.backend_pid
    url = conn.engine.url.set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute("select pg_terminate_backend(%s)", (pid,))


def main() -> None:
    faulthandler.dump_traceback_later(HANG_S)  # a command that hangs shows where, on stderr
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    moments = _Moments()
    event.listen(Engine, "before_cursor_execute", moments.statement)
    for module, name in ((os, "rename"), (os, "replace"), (shutil, "rmtree")):
        original = getattr(module, name)

        def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            moments.event()
            return _original(*args, **kwargs)

        setattr(module, name, counted)
    if events := os.environ.get("DISSENT_TEST_EVENTS"):
        atexit.register(lambda: Path(events).write_text(str(moments.seen)))
    if os.environ.get("DISSENT_TEST_SCRIPTED_TIERS"):
        import annotator.tiers

        annotator.tiers.build_backend = scripted_backend  # type: ignore[assignment]

    from cli import app

    sys.argv[0] = "dissent"
    app(prog_name="dissent")


if __name__ == "__main__":
    main()
