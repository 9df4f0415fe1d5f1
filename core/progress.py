"""One progress helper for long steps.

Library code wraps long loops in :func:`track`; nothing is shown unless a front end (the CLI)
has opened :func:`progress_display`, so library calls stay silent in tests and flows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
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
    TimeRemainingColumn,
)

__all__ = ["counter", "progress_display", "track"]

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
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
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
    with counter(description, total) as advance:
        for item in items:
            yield item
            advance(1)


@contextmanager
def counter(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A progress bar advanced by hand (``advance(n)``), with its rate and time remaining.

    Example:
        >>> with counter("grading", total=10) as advance:
        ...     advance(4)  # silent: no display is open
    """
    progress = _current.get()
    if progress is None:
        yield lambda n: None
        return
    task = progress.add_task(description, total=total, rate="")

    def advance(n: int) -> None:
        progress.advance(task, n)
        speed = progress.tasks[task].speed
        progress.update(task, rate=f"{speed:,.1f}/s" if speed else "")

    try:
        yield advance
    finally:
        done = progress.tasks[task].completed
        progress.update(task, completed=done, total=done)
