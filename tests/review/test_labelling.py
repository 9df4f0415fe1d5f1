"""Handing pairs out and recording grades: resumable, never twice, safe when many label at once.

Every test runs on SQLite and PostgreSQL (the ``engine`` fixture, through ``store``).
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from core.errors import DissentError
from flows.config import PipelineConfig
from review.labelling import next_task, record_grade, settle_item, skip, undo
from review.people import add_reviewer, authenticate
from review.progress import progress
from review.queue import fill_queue
from store.schema import ReviewAssignment, ReviewItem, ReviewLabel, utcnow
from tests.review.conftest import human_labels


def _person(engine: Engine, name: str) -> int:
    found = authenticate(engine, add_reviewer(engine, name))
    assert found is not None
    return found.id


def _queue(engine: Engine, settings: PipelineConfig, n: int, overlap: float = 0.0) -> None:
    settings.review.overlap_share = overlap
    fill_queue(engine, settings, n)


def test_a_reload_resumes_and_a_graded_pair_is_never_shown_again(
    store: Engine, settings: PipelineConfig
) -> None:
    _queue(store, settings, 3)
    ann = _person(store, "ann")
    first = next_task(store, ann, settings.review)
    assert first is not None and first.position == 1
    assert next_task(store, ann, settings.review) == first  # a reload: the same pair
    assert first.product["title"].startswith("product <b>")  # the text as stored: the page escapes
    assert (first.product["brand"], first.product["attributes"]) == ("Acme", {"colour": "red"})
    assert first.query.startswith("query ") and "cell" in first.reason
    assert record_grade(store, ann, first.item_id, 2, settings.review, note=" fine ", seconds=4.5)
    assert not record_grade(store, ann, first.item_id, 2, settings.review)  # a repeat: nothing
    second = next_task(store, ann, settings.review)
    assert second is not None and second.item_id != first.item_id
    skip(store, ann, second.item_id)
    third = next_task(store, ann, settings.review)
    assert third is not None and third.item_id not in (first.item_id, second.item_id)
    record_grade(store, ann, third.item_id, 0, settings.review)
    assert next_task(store, ann, settings.review) is None  # the skipped pair is not handed back
    with store.connect() as conn:
        notes = conn.execute(select(ReviewLabel.note, ReviewLabel.seconds)).all()
    assert sorted(notes, key=str) == sorted([("fine", 4.5), (None, None)], key=str)


def test_a_single_pair_goes_to_one_person_and_an_overlap_pair_to_two(
    store: Engine, settings: PipelineConfig
) -> None:
    _queue(store, settings, 2)
    with store.begin() as conn:
        conn.execute(update(ReviewItem).where(ReviewItem.position == 2).values(raters=2))
    ann, bob, cat = (_person(store, n) for n in ("ann", "bob", "cat"))
    a, b = next_task(store, ann, settings.review), next_task(store, bob, settings.review)
    assert a is not None and b is not None and (a.position, b.position) == (1, 2)
    c = next_task(store, cat, settings.review)
    assert c is not None and c.position == 2 and c.raters == 2  # the overlap pair, again
    assert next_task(store, _person(store, "dan"), settings.review) is None


def test_the_settled_grade_reaches_human_labels(store: Engine, settings: PipelineConfig) -> None:
    _queue(store, settings, 2)
    with store.begin() as conn:
        conn.execute(update(ReviewItem).values(raters=2))
        pairs = dict(conn.execute(select(ReviewItem.position, ReviewItem.id)).all())
        keys = dict(conn.execute(select(ReviewItem.id, ReviewItem.query_id)).all())
    ann, bob = _person(store, "ann"), _person(store, "bob")
    for person, grades in ((ann, (3, 1)), (bob, (3, 2))):
        for grade in grades:
            task = next_task(store, person, settings.review)
            assert task is not None
            record_grade(store, person, task.item_id, grade, settings.review)
    # both said 3 on the first pair; 1 against 2 on the second: a conflict, not a label
    assert [(q, g, s) for q, _, g, s in human_labels(store)] == [(keys[pairs[1]], 3, "review")]
    settle_item(store, bob, pairs[2], 2, settings.review)
    assert sorted(g for _, _, g, _ in human_labels(store)) == [2, 3]
    with pytest.raises(DissentError, match="a grade is 0, 1, 2 or 3"):
        settle_item(store, bob, pairs[2], 4, settings.review)


def test_undo_takes_the_last_grade_back(store: Engine, settings: PipelineConfig) -> None:
    _queue(store, settings, 3)
    ann = _person(store, "ann")
    graded = []
    for grade in (1, 2):
        task = next_task(store, ann, settings.review)
        assert task is not None
        record_grade(store, ann, task.item_id, grade, settings.review)
        graded.append(task.item_id)
    assert len(human_labels(store)) == 2
    held = next_task(store, ann, settings.review)  # a third pair is on screen
    assert undo(store, ann, settings.review) == graded[1]
    assert len(human_labels(store)) == 1
    again = next_task(store, ann, settings.review)
    assert again is not None and again.item_id == graded[1]  # the undone pair first
    record_grade(store, ann, again.item_id, 3, settings.review)
    after = next_task(store, ann, settings.review)
    assert after is not None and held is not None and after.item_id == held.item_id
    assert progress(store, ann, settings.review).labels == 2
    assert undo(store, _person(store, "bob"), settings.review) is None


def test_a_pair_held_too_long_goes_back_and_a_late_grade_still_counts(
    store: Engine, settings: PipelineConfig
) -> None:
    _queue(store, settings, 1)
    ann, bob = _person(store, "ann"), _person(store, "bob")
    held = next_task(store, ann, settings.review)
    assert held is not None and next_task(store, bob, settings.review) is None
    with store.begin() as conn:
        conn.execute(update(ReviewAssignment).values(assigned_at=utcnow() - timedelta(hours=1)))
    taken = next_task(store, bob, settings.review)
    assert taken is not None and taken.item_id == held.item_id
    assert record_grade(store, ann, held.item_id, 2, settings.review)  # late, still counted
    with pytest.raises(DissentError, match="was not handed to you"):
        record_grade(store, _person(store, "cat"), held.item_id, 1, settings.review)
    with pytest.raises(DissentError, match="a grade is 0, 1, 2 or 3"):
        record_grade(store, bob, held.item_id, 7, settings.review)


def test_many_people_at_once_never_share_a_single_pair(
    store: Engine, settings: PipelineConfig
) -> None:
    _queue(store, settings, 40, overlap=0.25)
    people = [_person(store, f"p{i}") for i in range(8)]
    errors: list[BaseException] = []

    def work(person: int) -> None:
        try:
            while (task := next_task(store, person, settings.review)) is not None:
                record_grade(store, person, task.item_id, person % 4, settings.review)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with store.connect() as conn:
        items = dict(conn.execute(select(ReviewItem.id, ReviewItem.raters)).all())
        graded = conn.execute(
            select(
                ReviewLabel.item_id, func.count(), func.count(ReviewLabel.reviewer_id.distinct())
            ).group_by(ReviewLabel.item_id)
        ).all()
    assert {item: n for item, n, _ in graded} == items  # every pair, exactly as often as wanted
    assert all(n == people for _, n, people in graded)  # never one person twice
    assert progress(store, None, settings.review).labels == sum(items.values())
