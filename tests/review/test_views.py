"""What the review page browses, by hand on the small store of ``conftest.build_store``: five
candidates a query, one per set; the cascade graded odd queries' candidates 3, 2, 1, 0, 3 (by
set: easy, hard positive, hard negative, token-similar, random)."""

from __future__ import annotations

from sqlalchemy import Engine, insert

from flows.config import PipelineConfig
from review.labelling import next_task, record_grade
from review.people import add_reviewer, authenticate
from review.queue import fill_queue
from review.views import (
    by_level,
    by_set,
    demoted,
    disputed,
    hindsight,
    level_counts,
    promoted,
    set_counts,
)
from store.ledger import Flow, recorded_run
from store.schema import CurriculumExample, HumanLabel, Label


def test_nothing_to_show_without_runs(engine: Engine) -> None:
    assert set_counts(engine) == {} and level_counts(engine) == {}
    for page in (by_set(engine, "easy_positive"), promoted(engine), by_level(engine, 1)):
        assert (page.rows, page.total, page.run_id) == ([], 0, None)
    assert disputed(engine).total == 0


def test_sets_promoted_and_demoted(store: Engine) -> None:
    assert set_counts(store) == dict.fromkeys(
        ("easy_positive", "hard_positive", "hard_negative", "token_negative", "random_negative"),
        12,
    )
    hard = by_set(store, "hard_negative", limit=4)
    assert (hard.total, len(hard.rows)) == (12, 4)
    assert {r.cascade_grade for r in by_set(store, "hard_negative").rows} == {1, None}
    assert hard.rows[0].title.startswith("product <b>")  # as stored: the page escapes it
    up = promoted(store)  # random negatives of the six odd queries, graded 3
    assert up.total == 6 and {(r.candidate_set, r.cascade_grade) for r in up.rows} == {
        ("random_negative", 3)
    }
    assert demoted(store).total == 0
    first = by_set(store, "easy_positive").rows[0]  # query 1, graded 3 by the cascade
    with store.begin() as conn:  # a newer cascade says 0: the newest verdict counts
        conn.execute(
            insert(Label).values(
                query_id=first.query_id,
                product_id=first.product_id,
                product_hash="new",
                cascade_id="c2",
                grade=0,
                status="graded",
            )
        )
    down = demoted(store)
    assert [(r.query_id, r.product_id, r.cascade_grade) for r in down.rows] == [
        (first.query_id, first.product_id, 0)
    ]


def test_disputed_puts_the_widest_gap_first(store: Engine) -> None:
    graded = [r for r in by_set(store, "easy_positive").rows if r.cascade_grade == 3][:3]
    with store.begin() as conn:
        conn.execute(
            insert(HumanLabel),
            [
                {"query_id": r.query_id, "product_id": r.product_id, "grade": g, "raw_label": "x"}
                | {"source": "file"}
                for r, g in zip(graded, (3, 2, 0), strict=True)
            ],
        )
    found = disputed(store)
    assert [(r.cascade_grade, r.human_grade, r.source) for r in found.rows] == [
        (3, 0, "file"),
        (3, 2, "file"),
    ]
    assert found.rows[0].candidate_set == "easy_positive"


def test_levels_leave_out_typo_copies(store: Engine) -> None:
    with recorded_run(store, Flow.CURRICULUM, {}) as run:
        run_id = run.id
    rows = [
        {"level": 3, "stage": 2, "split": "train", "query_id": 1, "query_text": "query 1"}
        | {"augmented": augmented, "positive_id": 6, "negative_id": 8, "label": None}
        for augmented in (False, False, True)
    ]
    with store.begin() as conn:
        conn.execute(insert(CurriculumExample), [{"run_id": run_id, **r} for r in rows])
    assert level_counts(store) == {3: 2}
    page = by_level(store, 3)
    assert (page.total, page.run_id) == (2, run_id)
    assert page.rows[0].positive == "product <b>6</b>" and page.rows[0].negative == (
        "product <b>8</b>"
    )
    assert by_level(store, 1).total == 0


def test_hindsight_only_after_ones_own_grade(store: Engine, settings: PipelineConfig) -> None:
    fill_queue(store, settings, 4)
    person = authenticate(store, add_reviewer(store, "ann"))
    assert person is not None
    task = next_task(store, person.id, settings.review)
    assert task is not None
    assert hindsight(store, person.id, task.item_id) is None  # not graded yet
    record_grade(store, person.id, task.item_id, 1, settings.review)
    seen = hindsight(store, person.id, task.item_id)
    assert seen is not None and (seen.query, seen.grade) == (task.query, 1)
    assert seen.cascade_grade == task.cascade_grade
