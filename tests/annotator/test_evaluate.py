"""cap_split, and calibrate_cascade end to end with two scripted tiers on a tiny SQLite store.

The store: queries 1-3 are the calibration split (4 pairs each), 4-5 the test split (3 each),
6 the training split (2 pairs, never graded here). Every pair has its own product.

    calibration human grades  q1: 2 2 2 2   q2: 2 0 1 3   q3: 2 0 1 3
        -> grade counts 0:2 1:2 2:6 3:2 of 12
    test human grades         q4: 3 2 0     q5: 1 2 2

Tier "cheap" (cost 1) always answers (.1, .2, .3, .4), raw grade 3. Its per-grade isotonic
maps see one x value each, so they are constant at the grade's frequency in the calibration
split: (2, 2, 6, 2) / 12 -> calibrated (1/6, 1/6, 1/2, 1/6), confidence .5, grade 2.
Tier "top" (cost 9) answers .91 on the human grade and .03 elsewhere: its maps send .91 -> 1
and .03 -> 0, so it is calibrated to one-hot on the right grade, confidence 1.

Threshold candidates for "cheap": its confidence quantiles (all .5), 0 and 1.01. Cumulative
costs 1 and 10; top tier only costs 9 per pair.
    t = 0 or .5: cheap decides all 12 calibration pairs: agreement 6/12 = .5, cost 1/9
    t = 1.01:    top decides all: agreement 1, cost 10/9
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from annotator.backends.base import Pair
from annotator.backends.scripted import ScriptedBackend
from annotator.cascade import TierSpec
from annotator.evaluate import Gate, calibrate_cascade, cap_split
from annotator.pairs import LabelledPair
from core.errors import DissentError
from prompts import load_prompt
from store.db import open_store
from store.schema import Calibration, Product, Query

GRADES = {
    "calibration": {1: [2, 2, 2, 2], 2: [2, 0, 1, 3], 3: [2, 0, 1, 3]},
    "test": {4: [3, 2, 0], 5: [1, 2, 2]},
    "train": {6: [0, 3]},
}


def labelled() -> list[LabelledPair]:
    out = []
    product = 0
    for split, queries in GRADES.items():
        for query, grades in queries.items():
            for grade in grades:
                product += 1
                pair = Pair(
                    query, product, f"h{product}", f"query {query}", {"title": f"p{product}"}
                )
                out.append(LabelledPair(pair, grade, split))
    return out


LABELLED = labelled()
HUMAN = {lp.pair.product_id: lp.grade for lp in LABELLED}


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    queries = sorted({lp.pair.query_id for lp in LABELLED})
    with engine.begin() as conn:
        conn.execute(
            insert(Query),
            [{"id": q, "external_id": f"q{q}", "text": f"query {q}"} for q in queries],
        )
        conn.execute(
            insert(Product),
            [
                {
                    "id": lp.pair.product_id,
                    "external_id": f"p{lp.pair.product_id}",
                    "title": f"p{lp.pair.product_id}",
                    "content_hash": lp.pair.product_hash,
                    "attributes": {},
                    "raw": {},
                }
                for lp in LABELLED
            ],
        )
    return engine


def tiers() -> list[TierSpec]:
    cheap = ScriptedBackend("cheap", lambda p: [0.1, 0.2, 0.3, 0.4])
    top = ScriptedBackend(
        "top", lambda p: [0.91 if g == HUMAN[p.product_id] else 0.03 for g in range(4)]
    )
    return [TierSpec("cheap", cheap, cost_weight=1.0), TierSpec("top", top, cost_weight=9.0)]


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


# --------------------------------------------------------------------- calibrate_cascade


def test_calibrate_cascade_within_a_generous_budget_routes_to_the_top_tier(store: Engine) -> None:
    specs = tiers()
    outcome = calibrate_cascade(
        store, specs, load_prompt(), LABELLED, budget=2.0, min_qwk=0.9, injection_pairs=2
    )
    assert outcome.prompt_version == load_prompt().version
    assert outcome.splits == {
        "train": {"pairs": 2, "queries": 1},
        "calibration": {"pairs": 12, "queries": 3},
        "test": {"pairs": 6, "queries": 2},
    }
    # the training split is never graded: 12 + 6 pairs per tier
    assert len(specs[0].backend.calls) == len(specs[1].backend.calls) == 18 + 2 * 3  # + injected

    # t = 1.01 (agreement 1, cost 10/9) is the best within budget 2
    assert outcome.thresholds == [1.01]
    assert outcome.choice.agreement == 1.0
    assert outcome.choice.cost_share == pytest.approx(10 / 9)
    assert outcome.choice.decided_share == [0.0, 1.0]

    # On the test split "top" decides every pair and is always right.
    cascade = outcome.cascade
    assert cascade.decided_share == {"cheap": 0.0, "top": 1.0}
    assert sum(cascade.decided_share.values()) == 1.0
    assert (cascade.test.exact, cascade.test.within_one, cascade.test.qwk) == (1.0, 1.0, 1.0)
    assert cascade.cost_share_of_top_tier == pytest.approx(10 / 9)
    assert cascade.per_1k_pairs_seconds is None  # costs are weights, not seconds
    assert cascade.confusion == [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 3, 0], [0, 0, 0, 1]]
    assert outcome.gate == Gate(min_qwk=0.9, qwk=1.0, passed=True)

    cheap, top = outcome.tiers
    assert (cheap.name, cheap.model_id, cheap.cost) == ("cheap", "scripted:cheap", 1.0)
    assert (top.name, top.model_id, top.cost) == ("top", "scripted:top", 9.0)
    # raw "cheap" says 3: right on 1 of the 6 test pairs (q4's first)
    assert cheap.raw.exact == pytest.approx(1 / 6)
    # calibrated "cheap" says 2: right on 3 of 6; |human - 2| = 1 0 2 1 0 0 -> 5/6 within one
    assert cheap.calibrated.exact == pytest.approx(0.5)
    assert cheap.calibrated.within_one == pytest.approx(5 / 6)
    assert cheap.confusion == [[0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 3, 0], [0, 0, 1, 0]]
    assert cheap.isotonic is not None and top.isotonic is not None
    assert top.calibrated.exact == 1.0
    # calibrated "top" is certain and right: one reliability bin (the last), no calibration error
    assert top.reliability_after == {
        "bins": [{"bin": 9, "count": 6, "confidence": 1.0, "accuracy": 1.0}],
        "ece": 0.0,
    }
    assert [(t.model_calls, t.cache_hits, t.failures) for t in outcome.tiers] == [(18, 0, 0)] * 2

    # injection: two test pairs x three injections; neither script reads the title
    assert {name: (r.pairs, r.compared, r.flip_rate) for name, r in outcome.injection.items()} == {
        "cheap": (2, 6, 0.0),
        "top": (2, 6, 0.0),
    }

    # one calibrations row per tier, with its threshold (none for the last tier)
    with store.connect() as conn:
        rows = conn.execute(
            select(
                Calibration.id,
                Calibration.tier,
                Calibration.model_id,
                Calibration.thresholds,
                Calibration.fitted_on,
                Calibration.prompt_hash,
            ).order_by(Calibration.tier)
        ).all()
    assert [r.id for r in rows] == outcome.calibration_ids
    assert [(r.tier, r.model_id, r.thresholds) for r in rows] == [
        (1, "scripted:cheap", {"accept": 1.01, "budget": 2.0}),
        (2, "scripted:top", {"accept": None, "budget": 2.0}),
    ]
    assert rows[0].fitted_on == {"split": "calibration", "pairs": 12, "queries": 3, "seed": 0}
    assert rows[0].prompt_hash == load_prompt().version


def test_calibrate_cascade_under_a_tight_budget_keeps_the_cheap_tier(store: Engine) -> None:
    specs = tiers()
    calibrate_cascade(store, specs, load_prompt(), LABELLED, budget=2.0)
    again = calibrate_cascade(store, specs, load_prompt(), LABELLED, budget=0.5, min_qwk=0.5)
    # judgments are cached: the second run calls no model
    assert [(t.model_calls, t.cache_hits) for t in again.tiers] == [(0, 18), (0, 18)]
    # within budget .5 only t = 0 and t = .5 (cost 1/9, agreement .5): the first found, 0
    assert again.thresholds == [0.0]
    assert len(again.thresholds) == len(specs) - 1
    assert again.choice.cost_share == pytest.approx(1 / 9)
    assert again.choice.agreement == pytest.approx(0.5)
    assert again.cascade.decided_share == {"cheap": 1.0, "top": 0.0}
    # "cheap" says 2 everywhere: 3 of 6 right, 5 of 6 within one
    assert again.cascade.test.exact == pytest.approx(0.5)
    assert again.cascade.test.within_one == pytest.approx(5 / 6)
    assert again.cascade.cost_share_of_top_tier == pytest.approx(1 / 9)
    assert again.gate.min_qwk == 0.5 and again.gate.passed is False
    with store.connect() as conn:
        assert conn.execute(select(Calibration.tier)).scalars().all() == [1, 2, 1, 2]


def test_a_gate_just_above_the_cascade_qwk_fails(store: Engine) -> None:
    outcome = calibrate_cascade(store, tiers(), load_prompt(), LABELLED, budget=2.0, min_qwk=1.01)
    assert outcome.gate == Gate(min_qwk=1.01, qwk=1.0, passed=False)


def test_no_gate_always_passes(store: Engine) -> None:
    outcome = calibrate_cascade(store, tiers(), load_prompt(), LABELLED, budget=0.5)
    assert outcome.gate.min_qwk is None and outcome.gate.passed is True


def test_too_few_usable_calibration_answers_leave_a_tier_uncalibrated(store: Engine) -> None:
    # "sparse" fails on queries 1 and 2 (8 calibration pairs): 4 usable answers < 10.
    sparse = ScriptedBackend(
        "sparse",
        lambda p: RuntimeError("timeout") if p.query_id in (1, 2) else [0.1, 0.2, 0.3, 0.4],
    )
    specs = [TierSpec("sparse", sparse, cost_weight=1.0, max_attempts=1), tiers()[1]]
    outcome = calibrate_cascade(store, specs, load_prompt(), LABELLED, budget=2.0)
    tier = outcome.tiers[0]
    assert tier.isotonic is None
    assert tier.failures == 8
    # uncalibrated: the calibrated figures are the raw ones (grade 3: 1 of 6 test pairs)
    assert tier.calibrated == tier.raw
    assert tier.calibrated.exact == pytest.approx(1 / 6)


def test_no_test_labels_is_an_error(store: Engine) -> None:
    only_cal = [lp for lp in LABELLED if lp.split == "calibration"]
    with pytest.raises(DissentError, match="have 12 and 0 pairs"):
        calibrate_cascade(store, tiers(), load_prompt(), only_cal, budget=1.0)
