"""One progress helper for long steps.

Library code wraps long loops in :func:`track`; nothing is shown unless a front end (the CLI)
has opened :func:`progress_display`, so library calls stay silent in tests and flows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["progress_display", "track"]

T = TypeVar("T")
_current: ContextVar[Progress | None] = ContextVar("dissent_progress", default=None)


@contextmanager
def progress_display(transient: bool = False) -> Iterator[Progress]:
    """Show progress bars on stderr for every :func:`track` inside the block."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=transient,
    )
    token = _current.set(progress)
    try:
        with progress:
            yield progress
    finally:
        _current.reset(token)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items``, advancing a progress bar when a display is open."""
    progress = _current.get()
    if progress is None:
        yield from items
        return
    task = progress.add_task(description, total=total)
    for item in items:
        yield item
        progress.advance(task)
    progress.update(
        task, completed=progress.tasks[task].completed, total=progress.tasks[task].completed
    )
