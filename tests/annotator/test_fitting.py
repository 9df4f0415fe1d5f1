"""One tier fitted on the calibration split (annotator.fitting), on hand-made answers.

The seeded query orders these tests rely on are Python's ``random.Random(seed).shuffle`` of
the sorted query ids [1, 2, 3, 4]: seed 0 gives [3, 1, 2, 4], seed 1 gives [4, 1, 3, 2],
seed 7 gives [4, 2, 1, 3].

The store of the ``run_tier`` tests: queries 1-4 with three products each, product ``p`` of
query ``q`` being ``3 (q - 1) + k`` (k = 1, 2, 3), human grade ``p % 4``; queries 1-4 are the
calibration split and query 5 (products 13-15) the test split.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from annotator.backends.base import Answer, Pair
from annotator.backends.scripted import ScriptedBackend
from annotator.cascade import TierSpec
from annotator.decision import Decider
from annotator.fitting import (
    Fitted,
    Settings,
    TierRun,
    _folds,
    cap_split,
    cost,
    decisions,
    human_cv_scores,
    matrix,
    route_grades,
    run_tier,
    shared_pairs,
)
from annotator.pairs import LabelledPair
from annotator.routing import Route, route_score
from prompts import load_prompt
from tests.annotator.conftest import store_of

# ----------------------------------------------------------------------------- cap_split


def _pairs(sizes: dict[int, int]) -> list[LabelledPair]:
    out = []
    for query, size in sizes.items():
        for k in range(size):
            pid = query * 10 + k
            out.append(LabelledPair(Pair(query, pid, f"h{pid}", "q", {}), 1, "test"))
    return out


# Queries 1-4 with 3, 2, 1, 2 pairs (8 in all). Python's random.Random(seed).shuffle of the
# sorted ids [1, 2, 3, 4] gives: seed 0 -> [3, 1, 2, 4]; seed 1 -> [4, 1, 3, 2];
# seed 7 -> [4, 2, 1, 3].
SIZES = {1: 3, 2: 2, 3: 1, 4: 2}


def _queries(pairs: list[LabelledPair]) -> list[int]:
    return [lp.pair.query_id for lp in pairs]


def test_cap_split_without_a_limit_or_under_it_keeps_everything_in_order() -> None:
    pairs = _pairs(SIZES)
    assert cap_split(pairs, None) == pairs
    assert cap_split(pairs, 8) == pairs


def test_cap_split_takes_whole_queries_in_seeded_order() -> None:
    pairs = _pairs(SIZES)
    # seed 0, limit 5: q3 (1) -> 1; q1 (3) -> 4; q2 (2) would make 6 > 5: stop
    got = cap_split(pairs, 5, seed=0)
    assert _queries(got) == [3, 1, 1, 1]
    assert [lp.pair.product_id for lp in got] == [30, 10, 11, 12]
    # seed 1, limit 5: q4 (2) -> 2; q1 (3) -> 5; q3 (1) would make 6: stop
    assert _queries(cap_split(pairs, 5, seed=1)) == [4, 4, 1, 1, 1]
    # the same seed gives the same pairs
    assert cap_split(pairs, 5, seed=1) == cap_split(pairs, 5, seed=1)


def test_cap_split_stops_at_the_first_query_that_does_not_fit() -> None:
    # seed 7, limit 3: q4 (2) -> 2; q2 (2) would make 4 > 3: stop, although q3 (1) would fit
    assert _queries(cap_split(_pairs(SIZES), 3, seed=7)) == [4, 4]


def test_cap_split_keeps_a_first_query_larger_than_the_limit() -> None:
    # seed 1, limit 1: q4 has 2 pairs > 1, but nothing is taken yet, so it is kept whole
    assert _queries(cap_split(_pairs(SIZES), 1, seed=1)) == [4, 4]


def test_a_smaller_limit_takes_a_prefix_of_a_larger_one() -> None:
    pairs = _pairs(SIZES)
    # seed 0 (order 3, 1, 2, 4; sizes 1, 3, 2, 2), limits 1..7:
    #   1-3 -> q3; 4-5 -> q3 q1; 6-7 -> q3 q1 q2 (q4 would make 8)
    by_limit = {limit: _queries(cap_split(pairs, limit, seed=0)) for limit in range(1, 8)}
    assert by_limit == {
        1: [3],
        2: [3],
        3: [3],
        4: [3, 1, 1, 1],
        5: [3, 1, 1, 1],
        6: [3, 1, 1, 1, 2, 2],
        7: [3, 1, 1, 1, 2, 2],
    }
    for seed in range(10):
        capped = [cap_split(pairs, limit, seed) for limit in range(1, 8)]
        for small, large in pairwise(capped):
            assert large[: len(small)] == small
        # with any limit, including none, a smaller cap is a subset of a larger one
        ids = [{lp.pair.product_id for lp in c} for c in [*capped, pairs]]
        assert all(small <= large for small, large in pairwise(ids))


def test_a_capped_split_lies_inside_the_uncapped_one() -> None:
    pairs = _pairs(SIZES)
    small = {id(lp) for lp in cap_split(pairs, 5, seed=0)}  # q3 q1, as above
    assert small <= {id(lp) for lp in cap_split(pairs, 8, seed=0)}
    assert small <= {id(lp) for lp in cap_split(pairs, None, seed=0)}


# -------------------------------------------------------------------------- small parts


def test_matrix_gives_failed_answers_a_uniform_row_marked_not_ok() -> None:
    dists, ok = matrix([Answer([0.1, 0.2, 0.3, 0.4]), Answer.failed("timeout")])
    np.testing.assert_array_equal(dists, [[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    assert ok.tolist() == [True, False]
    empty, none_ok = matrix([])
    assert empty.shape == (0, 4) and none_ok.shape == (0,)


def test_folds_deal_whole_queries_round_robin_in_seeded_order() -> None:
    pairs = _pairs({1: 2, 2: 1, 3: 1, 4: 1})  # queries 1, 1, 2, 3, 4
    # seed 0 orders the queries 3, 1, 2, 4: folds 0, 1, 0, 1
    assert _folds(pairs, 2, seed=0).tolist() == [1, 1, 0, 0, 1]
    # seed 1 orders them 4, 1, 3, 2: with three folds 0, 1, 2, 0
    assert _folds(pairs, 3, seed=1).tolist() == [1, 1, 0, 2, 0]


def test_fitted_decide_marks_failed_answers() -> None:
    empty = np.zeros(0)
    fitted = Fitted(None, Decider("exact"), [], empty.astype(np.int64), empty)
    dists = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])
    grades, conf = fitted.decide(dists, np.array([True, False]))
    assert grades.tolist() == [3, -1]
    assert conf.tolist() == pytest.approx([0.4, -1.0])


def test_cost_is_the_weight_or_else_the_mean_latency() -> None:
    answers = [Answer([0.25] * 4, latency_s=0.2), Answer([0.25] * 4, latency_s=0.4)]
    backend = ScriptedBackend("x", lambda p: [0.25] * 4)
    assert cost(TierSpec("w", backend, cost_weight=2.5), answers) == 2.5
    assert cost(TierSpec("s", backend), answers) == pytest.approx(0.3)
    assert cost(TierSpec("s", backend), []) == 1e-9  # never free


# ----------------------------------------------------------------------------- run_tier


def _labelled(queries: range, split: str) -> list[LabelledPair]:
    out = []
    for query in queries:
        for k in (1, 2, 3):
            product = 3 * (query - 1) + k
            pair = Pair(query, product, f"h{product}", f"query {query}", {"title": f"p{product}"})
            out.append(LabelledPair(pair, product % 4, split))
    return out


CAL = _labelled(range(1, 5), "calibration")
TEST = _labelled(range(5, 6), "test")
HUMAN = {lp.pair.product_id: lp.grade for lp in [*CAL, *TEST]}
SETTINGS = Settings("exact", 1.0, 2, 0, None, 0.05)


def _one_hot(pair: Pair) -> list[float]:
    return [0.91 if g == HUMAN[pair.product_id] else 0.03 for g in range(4)]


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    queries = {q: f"query {q}" for q in range(1, 6)}
    return store_of(tmp_path / "s.db", queries, list(HUMAN), title="p{}")


def _run(store: Engine, cap: int | None = None, name: str = "right") -> TierRun:
    spec = TierSpec(name, ScriptedBackend(name, _one_hot), max_eval_pairs=cap)
    return run_tier(store, 1, spec, load_prompt(), (CAL, TEST), SETTINGS, None)


def test_run_tier_grades_both_splits_and_decides_out_of_fold(store: Engine) -> None:
    run = _run(store)
    assert (run.cal, run.test) == (CAL, TEST)
    assert (run.model_calls, run.cache_hits) == (15, 0)
    assert run.fitted.keys == [(lp.pair.query_id, f"h{lp.pair.product_id}") for lp in CAL]
    # each training fold holds 6 answers (< 10): no maps there, the argmax decides, and a
    # one-hot answer on the human grade is right with its probability as the confidence
    assert run.fitted.oof_grade.tolist() == [lp.grade for lp in CAL]
    assert run.fitted.oof_conf.tolist() == pytest.approx([0.91] * 12)
    # on the whole split (12 answers) the maps are fitted: one-hot answers become certain
    assert run.fitted.iso is not None
    grades, conf = run.fitted.decide(*run.matrix([lp.pair for lp in TEST]))
    assert grades.tolist() == [lp.grade for lp in TEST]
    assert conf.tolist() == pytest.approx([1.0, 1.0, 1.0])
    again = _run(store)
    assert (again.model_calls, again.cache_hits) == (0, 15)


def test_run_tier_caps_a_slow_tier_to_whole_queries(store: Engine) -> None:
    run = _run(store, cap=6)
    # seed 0 orders the calibration queries 3, 1, 2, 4: queries 3 and 1 make 6 pairs
    assert [lp.pair.query_id for lp in run.cal] == [3, 3, 3, 1, 1, 1]
    assert run.test == TEST  # 3 pairs: under the cap
    assert run.model_calls == 9


def test_shared_pairs_decisions_and_route_grades(store: Engine) -> None:
    fast, slow = _run(store, name="fast"), _run(store, cap=6, name="slow")
    assert shared_pairs([fast, slow], [0, 1], "cal") == slow.cal
    assert shared_pairs([fast, slow], [0], "cal") == fast.cal
    pairs = [lp.pair for lp in CAL]
    confs, grades = decisions([fast, slow], pairs)
    human = [lp.grade for lp in CAL]
    assert grades[0].tolist() == human
    # the slow tier never graded queries 2 and 4: no grade, no confidence there; it was fitted
    # on 6 answers (< 10), so without maps: its confidence is the one-hot's .91
    graded = [lp.pair.query_id in (1, 3) for lp in CAL]
    assert grades[1].tolist() == [g if ok else -1 for g, ok in zip(human, graded, strict=True)]
    assert confs[1].tolist() == pytest.approx([0.91 if ok else -1.0 for ok in graded])
    assert confs[0].tolist() == pytest.approx([1.0] * 12)  # fast: mapped to certainty
    # fast is certain everywhere: with threshold 1 it decides every pair
    assert route_grades([fast, slow], Route((0, 1), (1.0,)), pairs).tolist() == human
    # slow alone: its grade where it has one, -1 elsewhere
    alone = route_grades([fast, slow], Route((1,)), pairs).tolist()
    assert alone == grades[1].tolist()


def test_cv_on_human_pairs_leaves_out_the_random_products(tmp_path: Path) -> None:
    # calibration: the 12 human pairs (source "file"), graded right by the tier, and 3 random
    # products taken as Irrelevant (source "") that it grades 3: exact agreement out of fold is
    # 12/15 with them, 12/12 without
    randoms = [
        LabelledPair(
            Pair(q, 100 + q, f"h{100 + q}", f"query {q}", {"title": "x"}), 0, "calibration"
        )
        for q in (1, 2, 3)
    ]
    cal = [replace(lp, source="file") for lp in CAL] + randoms
    grades = {**HUMAN, **{lp.pair.product_id: 3 for lp in randoms}}
    queries = {q: f"query {q}" for q in range(1, 6)}
    engine = store_of(tmp_path / "s.db", queries, list(grades), title="p{}")
    tier = ScriptedBackend(
        "t", lambda p: [0.91 if g == grades[p.product_id] else 0.03 for g in range(4)]
    )
    run = run_tier(engine, 1, TierSpec("t", tier), load_prompt(), (cal, TEST), SETTINGS, None)
    assert route_score("exact", np.array([lp.grade for lp in cal]), run.fitted.oof_grade) == 12 / 15
    alone, routed = human_cv_scores([run], Route((0,)), "exact")
    assert alone == [1.0] and routed == 1.0
    no_people = [replace(lp, source="") for lp in cal]
    run = run_tier(engine, 1, TierSpec("t", tier), load_prompt(), (no_people, TEST), SETTINGS, None)
    assert human_cv_scores([run], Route((0,)), "exact") == ([None], None)
