"""The review load benchmark's checks (bench.review_load_metrics) on a hand-made store whose
answers are known, and its store builder (bench.review_load), on SQLite and PostgreSQL.

Three people (ann, bob, cat) and eight queued pairs, A-H (items 1-8); every request takes
10 ms by the people's clocks:

- A (one rater): ann grades 2. Fine.
- B (one rater): ann is told her grade 1 was recorded; the store has no row: **lost**.
- C (one rater): bob grades 3 (recorded), then again (the server says not recorded, yet a
  second row stands): **same person twice**, one **unconfirmed** row.
- D (overlap, two raters): ann and bob hold it at once (fine) and both grade 0, but no
  ``human_labels`` row was written: **human label wrong**.
- E (one rater): handed to ann and to cat, both still holding it at the end: **double-handed**
  at the end and at once.
- F (one rater): ann skips it, cat gets it afterwards and grades 1. Fine.
- G (one rater): ann grades 2, undoes, grades 3. Fine.
- H (one rater): bob grades 2, then cat gets it and grades 2: **more people than wanted**,
  double-handed at the end (two done assignments) but never at once.
"""

from __future__ import annotations

from sqlalchemy import Engine, delete, func, insert, select

from bench.review_load import build_load_store
from bench.review_load_metrics import Call, check, latency_ms
from flows.config import PipelineConfig
from review.people import add_reviewer, reviewers
from review.queue import fill_queue
from store.schema import HumanLabel, ReviewAssignment, ReviewItem, ReviewLabel
from tests.review.conftest import PRODUCTS

ITEMS = "ABCDEFGH"
RATERS = {"D": 2}
ASSIGNED = {  # item: [(person, status)]
    "A": [("ann", "done")],
    "B": [("ann", "done")],
    "C": [("bob", "done")],
    "D": [("ann", "done"), ("bob", "done")],
    "E": [("ann", "open"), ("cat", "open")],
    "F": [("ann", "skipped"), ("cat", "done")],
    "G": [("ann", "done")],
    "H": [("bob", "done"), ("cat", "done")],
}
LABELS = [  # (item, person, grade, undone), in the order written
    ("A", "ann", 2, False),
    ("C", "bob", 3, False),
    ("C", "bob", 3, False),
    ("D", "ann", 0, False),
    ("D", "bob", 0, False),
    ("F", "cat", 1, False),
    ("G", "ann", 2, True),
    ("G", "ann", 3, False),
    ("H", "bob", 2, False),
    ("H", "cat", 2, False),
]
HUMAN = {"A": 2, "C": 3, "F": 1, "G": 3, "H": 2}  # D's agreed 0 is missing
# (person, action, item, grade, recorded, sent); each answered 10 ms later
LOG = [
    ("ann", "next", "A", None, None, 0.00),
    ("ann", "label", "A", 2, True, 0.10),
    ("ann", "next", "B", None, None, 0.12),
    ("ann", "label", "B", 1, True, 0.20),
    ("ann", "next", "D", None, None, 0.22),
    ("ann", "label", "D", 0, True, 0.30),
    ("ann", "next", "F", None, None, 0.32),
    ("ann", "skip", "F", None, None, 0.40),
    ("ann", "next", "G", None, None, 0.42),
    ("ann", "label", "G", 2, True, 0.50),
    ("ann", "undo", "G", None, None, 0.52),
    ("ann", "next", "G", None, None, 0.54),
    ("ann", "label", "G", 3, True, 0.60),
    ("ann", "next", "E", None, None, 0.62),
    ("bob", "next", "C", None, None, 0.00),
    ("bob", "label", "C", 3, True, 0.10),
    ("bob", "label", "C", 3, False, 0.12),
    ("bob", "next", "D", None, None, 0.20),
    ("bob", "label", "D", 0, True, 0.28),
    ("bob", "next", "H", None, None, 0.30),
    ("bob", "label", "H", 2, True, 0.35),
    ("cat", "next", "H", None, None, 0.40),
    ("cat", "label", "H", 2, True, 0.45),
    ("cat", "next", "F", None, None, 0.47),
    ("cat", "label", "F", 1, True, 0.50),
    ("cat", "next", "E", None, None, 0.70),
    ("cat", "next", None, None, None, 0.80),  # 204: nothing more for cat
]


def build(store: Engine) -> tuple[dict[str, int], dict[str, int], list[Call]]:
    """The hand-made review state above; returns item ids, reviewer ids and the log."""
    for name in ("ann", "bob", "cat"):
        add_reviewer(store, name)
    person = {name: id_ for id_, name in reviewers(store).items()}
    item = {name: k for k, name in enumerate(ITEMS, start=1)}
    pair = {name: (k, k % PRODUCTS + 1) for name, k in item.items()}
    with store.begin() as conn:
        conn.execute(
            insert(ReviewItem),
            [
                {
                    "id": item[n],
                    "query_id": pair[n][0],
                    "product_id": pair[n][1],
                    "position": item[n],
                    "raters": RATERS.get(n, 1),
                    "taken": 0,
                    "strategy": "random",
                    "reason": {},
                }
                for n in ITEMS
            ],
        )
        conn.execute(
            insert(ReviewAssignment),
            [
                {"item_id": item[n], "reviewer_id": person[p], "status": status}
                for n, held in ASSIGNED.items()
                for p, status in held
            ],
        )
        for n, p, grade, undone in LABELS:  # one at a time: ids in the order written
            conn.execute(
                insert(ReviewLabel).values(
                    item_id=item[n], reviewer_id=person[p], grade=grade, undone=undone
                )
            )
        conn.execute(
            insert(HumanLabel),
            [
                {
                    "query_id": pair[n][0],
                    "product_id": pair[n][1],
                    "grade": g,
                    "raw_label": str(g),
                    "source": "review",
                }
                for n, g in HUMAN.items()
            ],
        )
        # another source's label of D does not stand for the page's
        conn.execute(
            insert(HumanLabel).values(
                query_id=pair["D"][0],
                product_id=pair["D"][1],
                grade=0,
                raw_label="E",
                source="homedepot",
            )
        )
    calls = [
        Call(
            person[p],
            action,
            200 if n is not None else 204,
            sent,
            sent + 0.01,
            None if n is None else item[n],
            grade,
            recorded,
        )
        for p, action, n, grade, recorded, sent in LOG
    ]
    return item, person, calls


def test_check_finds_each_planted_fault(store: Engine) -> None:
    _, _, calls = build(store)
    found = check(store, calls, end=1.0)
    assert found.written == 9  # A 1, C 2, D 2, F 1, G 1 (its first grade undone), H 2
    assert (found.lost, found.unconfirmed) == (1, 1)  # B's grade; C's second row
    assert (found.same_person_twice, found.more_people_than_wanted, found.duplicated) == (1, 1, 2)
    # E at the end and at once; H at the end only (bob had graded it before cat held it)
    assert (found.double_handed_at_end, found.double_handed_at_once) == (2, 1)
    assert found.double_handed == 2
    # the grades that should stand: B's (lost) is missing, C's second row is extra
    assert found.undo_mismatches == 2
    assert found.human_labels_wrong == 1  # D
    assert found.statuses == {
        "next": {"200": 13, "204": 1},
        "label": {"200": 11},
        "skip": {"200": 1},
        "undo": {"200": 1},
    }
    assert found.latency_ms["next"] == {"n": 14, "p50": 10.0, "p95": 10.0, "p99": 10.0, "max": 10.0}


def test_a_clean_run_finds_nothing(store: Engine) -> None:
    item, _, calls = build(store)
    ids = {item[n] for n in "AFG"}  # the pairs nothing went wrong with (query id = item id)
    with store.begin() as conn:  # leave only A, F and G in the store and the log
        for table in (ReviewLabel, ReviewAssignment):
            conn.execute(delete(table).where(table.item_id.not_in(ids)))
        conn.execute(delete(HumanLabel).where(HumanLabel.query_id.not_in(ids)))
        conn.execute(delete(ReviewItem).where(ReviewItem.id.not_in(ids)))
    found = check(store, [c for c in calls if c.item_id in ids], end=1.0)
    assert found.written == 3
    assert (found.lost, found.unconfirmed, found.duplicated, found.double_handed) == (0, 0, 0, 0)
    assert (found.undo_mismatches, found.human_labels_wrong) == (0, 0)


def test_latency_percentiles_by_hand() -> None:
    calls = [Call(1, "next", 200, 0.0, k / 1000) for k in range(101)]  # 0, 1, .., 100 ms
    calls.append(Call(1, "next", 0, 0.0, 5.0))  # no answer: not a latency
    assert latency_ms(calls, "next") == {
        "n": 101,
        "p50": 50.0,
        "p95": 95.0,
        "p99": 99.0,
        "max": 100.0,
    }
    assert latency_ms(calls, "label") == {}


def test_the_load_store_fills_a_queue_with_its_overlap_share(
    engine: Engine, settings: PipelineConfig
) -> None:
    build_load_store(engine, queries=40, per_query=5)
    settings.review.overlap_share = 0.25
    report = fill_queue(engine, settings, 200, strategy="random")
    assert report.added == 200
    with engine.connect() as conn:
        overlap = conn.scalar(
            select(func.count()).select_from(ReviewItem).where(ReviewItem.raters == 2)
        )
    assert overlap == report.overlap and 30 <= report.overlap <= 70  # a seeded quarter of 200
