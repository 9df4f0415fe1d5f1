"""People against each other and the cascade, and conflicts, on grades chosen by hand."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, update

from flows.config import PipelineConfig
from review.agreement import agreement, conflicts, qwk
from review.labelling import next_task, record_grade, settle_item
from review.people import add_reviewer, authenticate
from review.queue import fill_queue
from review.verdicts import cascade_grades
from store.schema import ReviewItem


def _grade_all(engine: Engine, settings: PipelineConfig, grades: dict[str, list[int]]) -> None:
    for name, mine in grades.items():
        person = authenticate(engine, add_reviewer(engine, name))
        assert person is not None
        for grade in mine:
            task = next_task(engine, person.id, settings.review)
            assert task is not None
            record_grade(engine, person.id, task.item_id, grade, settings.review)


def test_qwk_by_hand() -> None:
    # a = [0, 0, 3, 3], b = [0, 1, 2, 3]: observed quadratic disagreement 2/9 of expected 14/9
    assert qwk([0, 0, 3, 3], [0, 1, 2, 3]) == pytest.approx(1 - 2 / 14)
    assert qwk([1], [1]) is None  # one pair: undefined
    assert qwk([2, 2, 2], [2, 2, 2]) is None  # no variance


def test_two_people_on_the_overlap_and_each_against_the_cascade(
    store: Engine, settings: PipelineConfig
) -> None:
    settings.review.overlap_share = 0.0
    fill_queue(store, settings, 4)
    with store.begin() as conn:
        conn.execute(update(ReviewItem).values(raters=2))
        pairs = conn.execute(
            select(ReviewItem.query_id, ReviewItem.product_id).order_by(ReviewItem.position)
        ).all()
        cascade = cascade_grades(conn, [tuple(p) for p in pairs])
    _grade_all(store, settings, {"ann": [0, 1, 2, 3], "bob": [0, 1, 3, 3]})
    found = agreement(store)
    assert found.labels == {"ann": 4, "bob": 4}
    (people,) = found.people
    assert (people.first, people.second, people.pairs, people.exact) == ("ann", "bob", 4, 0.75)
    # ann 0 1 2 3 against bob 0 1 3 3: one disagreement of 1 (weight 1/9) against
    # expected sum_{i,j} w_ij a_i b_j / n with both histograms as above
    a, b = [0, 1, 2, 3], [0, 1, 3, 3]
    expected = sum(
        (i - j) ** 2 / 9 * a.count(i) * b.count(j) / 4 for i in range(4) for j in range(4)
    )
    assert people.qwk == pytest.approx(1 - (1 / 9) / expected)
    assert found.alpha is not None and 0.8 < found.alpha < 1.0 and found.alpha_pairs == 4
    graded = {p: g for p, g in cascade.items()}
    assert {c.first for c in found.cascade} == {"ann", "bob"}
    ann = next(c for c in found.cascade if c.first == "ann")
    assert ann.second == "cascade" and ann.pairs == len([p for p in pairs if tuple(p) in graded])
    (conflict,) = conflicts(store)
    assert conflict.grades == {"ann": 2, "bob": 3}
    assert conflict.title.startswith("product <b>")
    settle_item(store, 1, conflict.item_id, 3, settings.review)
    assert conflicts(store) == []
