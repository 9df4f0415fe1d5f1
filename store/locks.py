"""Cross-process work locks, so two workers never do the same unit of work at once.

``work_lock(engine, key)`` holds a lock named by ``key`` (or by each of several keys) for the
duration of a block:

- PostgreSQL: a session advisory lock (``pg_advisory_lock``) on a connection held for the
  block, so it works across machines sharing the database and is released if the holder dies.
- SQLite: an ``flock`` on a file in ``<database>.locks/`` beside the database file, which works
  across processes on one machine (SQLite's own scope). An in-memory database needs no lock.

With ``blocking=False`` the block runs at once and receives ``False`` when another holder has
the lock (the caller decides whether to come back later). The lock guards *work*, not data:
the store's unique keys still make every write idempotent.
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

__all__ = ["locks_are_shared", "work_lock"]


def _key64(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def locks_are_shared(engine: Engine) -> bool:
    """Whether :func:`work_lock` excludes other processes on this store (PostgreSQL, a SQLite
    file); elsewhere (an in-memory database) it always grants the lock."""
    if engine.dialect.name == "postgresql":
        return True
    database = engine.url.database
    return engine.dialect.name == "sqlite" and bool(database) and database != ":memory:"


@contextmanager
def work_lock(engine: Engine, key: str | Sequence[str], *, blocking: bool = True) -> Iterator[bool]:
    """Hold the lock ``key`` (or every lock of a list of keys) for the block.

    Several keys are taken in a fixed (sorted) order, so two holders of overlapping key sets
    never deadlock; they share one database connection. Yields whether all were acquired
    (with ``blocking=False``, none is held when it yields ``False``).
    """
    keys = sorted({key} if isinstance(key, str) else set(key))
    if not keys:
        yield True
        return
    if engine.dialect.name == "postgresql":
        numbers = sorted({_key64(k) for k in keys})
        held: list[int] = []
        with engine.connect() as conn:
            try:
                for number in numbers:
                    if blocking:
                        conn.execute(text("select pg_advisory_lock(:k)"), {"k": number})
                    elif not conn.execute(
                        text("select pg_try_advisory_lock(:k)"), {"k": number}
                    ).scalar():
                        break
                    held.append(number)
                conn.commit()
                acquired = len(held) == len(numbers)
                if not acquired:
                    _pg_unlock(conn, held)
                    held = []
                yield acquired
            finally:
                _pg_unlock(conn, held)
        return
    if not locks_are_shared(engine):
        yield True
        return
    directory = Path(f"{engine.url.database}.locks")
    directory.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        handles = []
        acquired = True
        for k in keys:
            path = directory / f"{hashlib.sha256(k.encode()).hexdigest()[:32]}.lock"
            handle = stack.enter_context(path.open("a"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                acquired = False
                break
            handles.append(handle)
        if not acquired:
            for handle in handles:
                fcntl.flock(handle, fcntl.LOCK_UN)
            handles = []
        try:
            yield acquired
        finally:
            for handle in handles:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _pg_unlock(conn: Connection, numbers: Sequence[int]) -> None:
    for number in reversed(numbers):
        conn.execute(text("select pg_advisory_unlock(:k)"), {"k": number})
    conn.commit()
