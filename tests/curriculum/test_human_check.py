"""The levels against human labels of the same pairs, on the hand-built store."""

from __future__ import annotations

from sqlalchemy import insert

from curriculum.human_check import ALL_JUDGED, DEMOTED, check_levels, easy_positives_by_rank
from store.ledger import Flow, recorded_run
from store.schema import Candidate, HumanLabel
from tests.curriculum.conftest import CASCADE, HandStore

# product, query, grade, source: p4 has two sources that disagree (mean 1.5: not relevant);
# p9's label failed and p10 was never labelled, so their human grades count nowhere
HUMAN = [
    ("p1", "q1", 3, "a"),
    ("p11", "q2", 1, "a"),
    ("p4", "q1", 3, "a"),
    ("p4", "q1", 0, "b"),
    ("p3", "q1", 2, "a"),
    ("p7", "q1", 3, "a"),
    ("p9", "q1", 3, "a"),
]


def _label(store: HandStore) -> None:
    with store.engine.begin() as conn:
        for product, query, grade, source in HUMAN:
            conn.execute(
                insert(HumanLabel).values(
                    query_id=store.query[query],
                    product_id=store.product[product],
                    grade=grade,
                    raw_label=str(grade),
                    source=source,
                )
            )


def test_each_level_is_checked_against_the_humans_of_its_pairs(hand_store: HandStore) -> None:
    _label(hand_store)
    rows = {r.level: r for r in check_levels(hand_store.engine, hand_store.mining_run, CASCADE)}
    got = {name: (r.candidates, r.judged, r.human_relevant) for name, r in rows.items()}
    assert got == {
        "easy positives": (2, 2, 1),  # p1 (human 3), p11 (human 1)
        "hard positives": (2, 1, 0),  # p2 unjudged, p4 promoted: humans 3 and 0
        "hard negatives": (2, 1, 1),  # p3: a false negative by the humans; p8 unjudged
        "token-similar negatives": (2, 0, 0),
        "random negatives": (2, 0, 0),
        DEMOTED: (1, 1, 1),  # p7: graded 0, a human says 3
        ALL_JUDGED: (6, 6, 4),  # p1, p11, p4, p3, p7, and p9 (its label failed)
    }
    assert rows["easy positives"].human_relevant_share == 0.5
    assert rows["token-similar negatives"].human_relevant_share is None


def test_one_label_source_can_be_chosen(hand_store: HandStore) -> None:
    _label(hand_store)
    rows = check_levels(hand_store.engine, hand_store.mining_run, CASCADE, source="a")
    hard = next(r for r in rows if r.level == "hard positives")
    assert (hard.judged, hard.human_relevant) == (1, 1)
    assert hard.as_dict()["judged_share"] == 0.5


def test_consensus_candidates_are_bucketed_by_their_worst_channel_rank(
    hand_store: HandStore,
) -> None:
    _label(hand_store)
    with recorded_run(hand_store.engine, Flow.MINE, {"k": 2}) as mined:
        run = mined.id
    ranks = {  # product: channel ranks -> worst rank
        "p1": {"bm25": 1, "dense": 3, "catalog": 2},  # 3: 1-10, human 3
        "p3": {"bm25": 40, "dense": 5, "catalog": 1},  # 40: 11-50, human 2
        "p11": {"bm25": 2, "dense": 700, "catalog": 9},  # past 500: the last bucket, human 1
        "p2": {"bm25": 60, "dense": 70, "catalog": 99},  # 99: 51-100, unjudged
        "p5": {"tfidf": 0.5},  # no channel rank: not counted
    }
    with hand_store.engine.begin() as conn:
        for product, channel_ranks in ranks.items():
            q = "q2" if product == "p11" else "q1"
            conn.execute(
                insert(Candidate).values(
                    run_id=run,
                    query_id=hand_store.query[q],
                    product_id=hand_store.product[product],
                    candidate_set="easy_positive",
                    ranks={**channel_ranks, "sets": ["easy_positive"]},
                )
            )
    rows = easy_positives_by_rank(hand_store.engine, run)
    got = {r.level: (r.candidates, r.judged, r.human_relevant) for r in rows}
    assert got == {
        "worst rank 1-10": (1, 1, 1),
        "worst rank 11-50": (1, 1, 1),
        "worst rank 51-100": (1, 0, 0),
        "worst rank 101-500": (1, 1, 0),
    }
