"""Work locks exclude a second holder, on SQLite (file locks) and PostgreSQL (advisory)."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from store.locks import work_lock


def test_a_held_lock_excludes_others_until_released(engine: Engine) -> None:
    with work_lock(engine, "annotate:batch-1") as first:
        assert first
        with work_lock(engine, "annotate:batch-1", blocking=False) as second:
            assert not second
        with work_lock(engine, "annotate:batch-2", blocking=False) as other:
            assert other  # another key is free
    with work_lock(engine, "annotate:batch-1", blocking=False) as again:
        assert again


def test_a_blocking_waiter_gets_the_lock_after_the_holder(engine: Engine) -> None:
    order: list[str] = []
    held = threading.Event()

    def holder() -> None:
        with work_lock(engine, "k"):
            held.set()
            threading.Event().wait(0.3)
            order.append("holder done")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    with work_lock(engine, "k") as acquired:
        order.append("waiter in")
        assert acquired
    thread.join()
    assert order == ["holder done", "waiter in"]


def test_overlapping_key_sets_exclude_each_other(engine: Engine) -> None:
    with work_lock(engine, ["q:1", "q:2", "q:3"]) as first:
        assert first
        with work_lock(engine, ["q:3", "q:4"], blocking=False) as overlap:
            assert not overlap
        with work_lock(engine, ["q:4", "q:5"], blocking=False) as disjoint:
            assert disjoint
    with work_lock(engine, ["q:3", "q:4"], blocking=False) as later:
        assert later
