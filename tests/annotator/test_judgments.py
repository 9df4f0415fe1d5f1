"""The judgment ledger (grade_cached): cache hits, bounded retries, no duplicate rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from annotator.backends.base import Answer, Pair
from annotator.backends.scripted import ScriptedBackend
from annotator.judgments import grade_cached, key_of
from prompts import load_prompt
from store.schema import Judgment
from tests.annotator.conftest import tiny_store

GOOD = [0.1, 0.1, 0.7, 0.1]


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    return tiny_store(tmp_path / "s.db", "cordless drill", [1, 2, 3])


def pair(i: int) -> Pair:
    return Pair(1, i, f"h{i}", "cordless drill", {"title": f"product {i}"})


def rows(engine: Engine) -> list[tuple[int, int, bool]]:
    """(product, attempt, failed) of every judgment row."""
    with engine.connect() as conn:
        found = conn.execute(
            select(Judgment.product_id, Judgment.attempt, Judgment.error).order_by(
                Judgment.product_id, Judgment.attempt
            )
        ).all()
    return [(p, a, e is not None) for p, a, e in found]


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Judgment)).scalar_one()


def test_second_call_is_all_cache_hits(store: Engine) -> None:
    backend = ScriptedBackend("m", lambda p: GOOD)
    pairs = [pair(1), pair(2), pair(3)]
    first = grade_cached(store, backend, load_prompt(), pairs, tier=1)
    assert (first.model_calls, first.cache_hits, first.failures) == (3, 0, 0)
    assert rows(store) == [(1, 1, False), (2, 1, False), (3, 1, False)]
    again = grade_cached(store, backend, load_prompt(), pairs, tier=1)
    assert (again.model_calls, again.cache_hits, again.failures) == (0, 3, 0)
    assert len(backend.calls) == 3  # the model saw each pair once, in the first call only
    answer = again.answers[key_of(pair(2))]
    assert answer.distribution == GOOD and answer.grade == 2 and answer.extra == {"cached": True}
    assert count(store) == 3


def test_the_same_pair_twice_is_graded_once(store: Engine) -> None:
    backend = ScriptedBackend("m", lambda p: GOOD)
    call = grade_cached(store, backend, load_prompt(), [pair(1), pair(1)], tier=1)
    # one key: one model call, one row, and the cache-hit count is over distinct keys
    assert (call.model_calls, call.cache_hits) == (1, 0)
    assert count(store) == 1


def test_another_model_or_prompt_is_not_a_cache_hit(store: Engine) -> None:
    grade_cached(store, ScriptedBackend("a", lambda p: GOOD), load_prompt(), [pair(1)], tier=1)
    other = ScriptedBackend("b", lambda p: GOOD)
    call = grade_cached(store, other, load_prompt(), [pair(1)], tier=2)
    assert (call.model_calls, call.cache_hits) == (1, 0)
    assert count(store) == 2


def test_failures_are_retried_up_to_max_attempts_and_recorded(store: Engine) -> None:
    backend = ScriptedBackend(
        "flaky", lambda p: RuntimeError("boom") if p.product_id == 2 else GOOD
    )
    call = grade_cached(store, backend, load_prompt(), [pair(1), pair(2)], tier=1, max_attempts=2)
    # round 1: both pairs (2 calls, 1 failure); round 2: pair 2 again (1 call, 1 failure)
    assert (call.model_calls, call.cache_hits, call.failures) == (3, 0, 2)
    assert rows(store) == [(1, 1, False), (2, 1, True), (2, 2, True)]
    failed = call.answers[key_of(pair(2))]
    assert failed.error == "RuntimeError: boom" and failed.grade is None
    with store.connect() as conn:
        errors = conn.execute(
            select(Judgment.error, Judgment.grade, Judgment.distribution).where(
                Judgment.product_id == 2
            )
        ).all()
    assert errors == [("RuntimeError: boom", None, None)] * 2

    # The same limit again: pair 2 has its two rows, so nothing is sent and nothing written.
    again = grade_cached(store, backend, load_prompt(), [pair(1), pair(2)], tier=1, max_attempts=2)
    assert (again.model_calls, again.cache_hits, again.failures) == (0, 1, 0)
    assert count(store) == 3

    # A higher limit retries it once more, as attempt 3.
    more = grade_cached(store, backend, load_prompt(), [pair(1), pair(2)], tier=1, max_attempts=3)
    assert (more.model_calls, more.cache_hits, more.failures) == (1, 1, 1)
    assert rows(store) == [(1, 1, False), (2, 1, True), (2, 2, True), (2, 3, True)]


def test_a_retry_that_succeeds_stops_retrying(store: Engine) -> None:
    seen: dict[int, int] = {}

    def second_time_lucky(p: Pair) -> Answer | list[float]:
        seen[p.product_id] = seen.get(p.product_id, 0) + 1
        if seen[p.product_id] == 1:
            return Answer.failed("unparseable answer", raw="Grade: two")
        return GOOD

    backend = ScriptedBackend("lucky", second_time_lucky)
    call = grade_cached(store, backend, load_prompt(), [pair(1)], tier=1, max_attempts=5)
    assert (call.model_calls, call.failures) == (2, 1)
    assert call.answers[key_of(pair(1))].grade == 2
    assert rows(store) == [(1, 1, True), (1, 2, False)]
    with store.connect() as conn:
        raw = conn.execute(select(Judgment.raw_response).where(Judgment.attempt == 1)).scalar_one()
    assert raw == "Grade: two"
    # success is cached even with a higher limit: no further attempt
    again = grade_cached(store, backend, load_prompt(), [pair(1)], tier=1, max_attempts=9)
    assert (again.model_calls, again.cache_hits) == (0, 1)
    assert count(store) == 2


def test_call_batch_sends_pairs_in_chunks(store: Engine) -> None:
    backend = ScriptedBackend("m", lambda p: GOOD)
    batches: list[int] = []
    original = backend.grade

    def spy(pairs: list[Pair], prompt: object) -> list[Answer]:
        batches.append(len(pairs))
        return original(pairs, prompt)  # type: ignore[arg-type]

    backend.grade = spy  # type: ignore[method-assign]
    grade_cached(store, backend, load_prompt(), [pair(1), pair(2), pair(3)], tier=1, call_batch=2)
    assert batches == [2, 1]


def test_a_pair_out_of_attempts_still_gets_its_last_failure(store: Engine) -> None:
    backend = ScriptedBackend("bad", lambda p: RuntimeError("boom"))
    grade_cached(store, backend, load_prompt(), [pair(1)], tier=1, max_attempts=2)
    again = grade_cached(store, backend, load_prompt(), [pair(1)], tier=1, max_attempts=2)
    assert again.answers[key_of(pair(1))].error == "RuntimeError: boom"
