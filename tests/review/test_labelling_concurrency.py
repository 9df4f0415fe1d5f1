"""Two people grading the same overlap pair at the same moment (review.labelling), the race the
load benchmark (``bench/review_load.py``) found on PostgreSQL: each transaction settled the pair
seeing only its own grade, so an agreed grade never reached ``human_labels``. The pair's queue
row is now locked first, so the second to commit sees the first's grade."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine

from flows.config import PipelineConfig
from review.labelling import next_task, record_grade
from review.people import add_reviewer, reviewers
from review.queue import fill_queue
from tests.review.conftest import human_labels

PAIRS = 12


def test_an_overlap_pair_graded_by_both_at_once_is_settled(
    store: Engine, settings: PipelineConfig
) -> None:
    settings.review.overlap_share = 1.0  # every pair wanted from two people
    fill_queue(store, settings, PAIRS, strategy="random")
    for name in ("ann", "bob"):
        add_reviewer(store, name)
    ann, bob = sorted(reviewers(store))
    start = threading.Barrier(2)

    def grade(person: int, item: int) -> bool:
        start.wait(timeout=10)
        return record_grade(store, person, item, 2, settings.review)

    with ThreadPoolExecutor(2) as pool:
        for _ in range(PAIRS):
            first, second = (
                next_task(store, ann, settings.review),
                next_task(store, bob, settings.review),
            )
            assert first is not None and second is not None and first.item_id == second.item_id
            both = [pool.submit(grade, p, first.item_id) for p in (ann, bob)]
            assert [f.result(timeout=30) for f in both] == [True, True]
    settled = [row for row in human_labels(store) if row[3] == "review"]
    assert len(settled) == PAIRS and {row[2] for row in settled} == {2}
