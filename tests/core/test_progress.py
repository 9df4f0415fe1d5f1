"""Progress outside a terminal: a line per step every interval, and one at its end."""

from __future__ import annotations

import io
import threading

from core.progress import counter, format_duration, format_rate, progress_display, track


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_nothing_is_shown_without_a_display() -> None:
    assert list(track(range(3), "quiet")) == [0, 1, 2]


def test_a_line_every_interval_and_one_at_the_end() -> None:
    clock, stream = FakeClock(), io.StringIO()
    with (
        progress_display(stream=stream, interval_s=30, clock=clock),
        counter("tier 1 cross-encoder", total=41_000) as advance,
    ):
        clock.now += 10
        advance(1_000)  # 10 s: under the interval, nothing yet
        clock.now += 20
        advance(2_000)  # 30 s: 3,000 done at 100/s, 38,000 left -> 380 s
        clock.now += 5
        advance(500)  # 35 s since the start, 5 s since the last line: nothing
        clock.now += 365
        advance(37_500)  # 400 s: all done
    assert stream.getvalue().splitlines() == [
        "tier 1 cross-encoder: 3,000 / 41,000 (7%) at 100.0/s, about 6 min 20 s left",
        "tier 1 cross-encoder: 41,000 / 41,000 (100%) at 102.5/s, about 0 s left",
        "tier 1 cross-encoder: done 41,000 in 6 min 40 s (102.5/s)",
    ]


def test_a_short_step_prints_nothing_and_an_unknown_total_prints_the_count() -> None:
    clock, stream = FakeClock(), io.StringIO()
    with progress_display(stream=stream, interval_s=30, clock=clock):
        for _ in track(range(3), "quick"):
            clock.now += 1  # 3 s in all: below the closing line's threshold
        with counter("writing") as advance:
            clock.now += 40
            advance(80)
    assert stream.getvalue().splitlines() == [
        "writing: 80 at 2.0/s",
        "writing: done 80 in 40 s (2.0/s)",
    ]


def test_threads_that_copy_the_context_report_into_the_display() -> None:
    import contextvars

    clock, stream = FakeClock(), io.StringIO()
    with progress_display(stream=stream, interval_s=0, clock=clock):
        context = contextvars.copy_context()

        def work() -> None:
            with counter("batch", total=2) as advance:
                clock.now += 1
                advance(2)

        thread = threading.Thread(target=context.run, args=(work,))
        thread.start()
        thread.join()
    assert stream.getvalue().splitlines() == ["batch: 2 / 2 (100%) at 2.0/s, about 0 s left"]


def test_durations_and_rates_read_as_people_write_them() -> None:
    assert format_duration(59.6) == "1 min 0 s"
    assert format_duration(7260) == "2 h 1 min"
    assert format_rate(1.0) == "1.0/s"
    assert format_rate(1 / 165) == "2 min 45 s each"  # a slow step: the time one takes
