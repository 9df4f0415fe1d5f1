"""One progress helper for long steps.

Library code wraps long loops in :func:`track` (or advances a :func:`counter` by hand);
nothing is shown unless a front end (the CLI, ``make demo``) has opened
:func:`progress_display`, so library calls stay silent in tests and flows. Inside a display,
each step shows what it does, how much of the total is done, its rate and the time left:

- on a terminal, as a live bar per step (rich);
- otherwise (output to a file or a CI log), as a plain line every ``interval_s`` seconds
  (default 30) while the step runs, and one when it ends if it took more than a few seconds::

      tier 1 cross-encoder: 12,800 / 41,000 (31%) at 42.7/s, about 11 min left
      tier 1 cross-encoder: done 41,000 in 16 min 2 s (42.6/s)

The display is a context variable: threads that copy the context (Prefect's thread-pool task
runner does) report into the same display.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol, TextIO, TypeVar

__all__ = ["counter", "format_duration", "format_rate", "progress_display", "track"]

T = TypeVar("T")

# A step shorter than this prints no closing line when the output is not a terminal.
QUIET_BELOW_S = 5.0


class _Sink(Protocol):
    def start(self, description: str, total: int | None) -> int: ...

    def advance(self, task: int, n: int) -> None: ...

    def finish(self, task: int) -> None: ...


_current: ContextVar[_Sink | None] = ContextVar("dissent_progress", default=None)


def format_duration(seconds: float) -> str:
    """``3725.0`` → ``"1 h 2 min"``, ``125`` → ``"2 min 5 s"``, ``9.4`` → ``"9 s"``.

    Example:
        >>> format_duration(125), format_duration(3725), format_duration(0.4)
        ('2 min 5 s', '1 h 2 min', '0 s')
    """
    s = max(0, round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60} min"
    if s >= 60:
        return f"{s // 60} min {s % 60} s"
    return f"{s} s"


class _Bars:
    """Live bars on a terminal (rich)."""

    def __init__(self, stream: TextIO, transient: bool) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            transient=transient,
            console=Console(file=stream),
        )

    def start(self, description: str, total: int | None) -> int:
        return int(self.progress.add_task(description, total=total, rate=""))

    def advance(self, task: int, n: int) -> None:
        self.progress.advance(task, n)  # type: ignore[arg-type]
        speed = self.progress.tasks[task].speed
        self.progress.update(task, rate=f"{speed:,.1f}/s" if speed else "")  # type: ignore[arg-type]

    def finish(self, task: int) -> None:
        done = self.progress.tasks[task].completed
        self.progress.update(task, completed=done, total=done)  # type: ignore[arg-type]


@dataclass
class _Step:
    description: str
    total: int | None
    started: float
    last: float
    done: int = 0


class _Lines:
    """A line per step every ``interval_s`` seconds, and one at its end (not a terminal)."""

    def __init__(self, stream: TextIO, interval_s: float, clock: Callable[[], float]) -> None:
        self.stream = stream
        self.interval_s = interval_s
        self.clock = clock
        self.steps: dict[int, _Step] = {}
        self.lock = threading.Lock()

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def start(self, description: str, total: int | None) -> int:
        now = self.clock()
        with self.lock:
            task = len(self.steps)
            self.steps[task] = _Step(description, total, now, now)
        return task

    def advance(self, task: int, n: int) -> None:
        now = self.clock()
        with self.lock:
            step = self.steps[task]
            step.done += n
            if now - step.last < self.interval_s:
                return
            step.last = now
            line = _running_line(step, now)
        self._write(line)

    def finish(self, task: int) -> None:
        now = self.clock()
        with self.lock:
            step = self.steps[task]
            if now - step.started < QUIET_BELOW_S:
                return
            elapsed = now - step.started
            rate = step.done / elapsed if elapsed > 0 else 0.0
            line = (
                f"{step.description}: done {step.done:,} in {format_duration(elapsed)} "
                f"({format_rate(rate)})"
            )
        self._write(line)


def _running_line(step: _Step, now: float) -> str:
    elapsed = max(now - step.started, 1e-9)
    rate = step.done / elapsed
    if step.total:
        share = step.done / step.total
        left = (step.total - step.done) / rate if rate > 0 else math.inf
        eta = f", about {format_duration(left)} left" if math.isfinite(left) else ""
        return (
            f"{step.description}: {step.done:,} / {step.total:,} ({share:.0%}) "
            f"at {format_rate(rate)}{eta}"
        )
    return f"{step.description}: {step.done:,} at {format_rate(rate)}"


def format_rate(per_second: float) -> str:
    """``42.66`` → ``"42.7/s"``; below one a second, the time each takes: ``0.02`` → ``"50 s
    each"``.

    Example:
        >>> format_rate(42.66), format_rate(0.02), format_rate(0)
        ('42.7/s', '50 s each', 'none done')
    """
    if per_second >= 1:
        return f"{per_second:,.1f}/s"
    if per_second > 0:
        return f"{format_duration(1 / per_second)} each"
    return "none done"


@contextmanager
def progress_display(
    transient: bool = False,
    *,
    stream: TextIO | None = None,
    interval_s: float = 30.0,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[None]:
    """Show the progress of every :func:`track` and :func:`counter` inside the block.

    Args:
        transient: on a terminal, remove the bars when the block ends.
        stream: where to write (default standard error); bars when it is a terminal, lines
            every ``interval_s`` seconds otherwise.
        interval_s: seconds between two lines of one step when not on a terminal.
        clock: the time source (tests pass a fake one).
    """
    out = stream or sys.stderr
    is_terminal = getattr(out, "isatty", lambda: False)()
    sink: _Sink = _Bars(out, transient) if is_terminal else _Lines(out, interval_s, clock)
    token = _current.set(sink)
    try:
        if isinstance(sink, _Bars):
            with sink.progress:
                yield
        else:
            yield
    finally:
        _current.reset(token)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate over ``items``, reporting progress when a display is open."""
    with counter(description, total) as advance:
        for item in items:
            yield item
            advance(1)


@contextmanager
def counter(description: str, total: int | None = None) -> Iterator[Callable[[int], None]]:
    """A step's progress, advanced by hand (``advance(n)``), with its rate and time remaining.

    Example:
        >>> with counter("grading", total=10) as advance:
        ...     advance(4)  # silent: no display is open
    """
    sink = _current.get()
    if sink is None:
        yield lambda n: None
        return
    task = sink.start(description, total)
    try:
        yield lambda n: sink.advance(task, n)
    finally:
        sink.finish(task)
