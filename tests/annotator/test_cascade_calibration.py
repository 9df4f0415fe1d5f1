"""calibrate_cascade end to end with scripted tiers on a tiny SQLite store.

The store: queries 1-20 are the calibration split, 21-30 the test split, 31 the training
split (never graded here); each query has three products of its own, product ``p`` of query
``q`` being ``3 (q - 1) + k`` for k = 1, 2, 3. The human grade of product p is ``p % 4``:

    calibration  p = 1..60:   15 pairs of each grade
    test         p = 61..90:  grade 0: 7 (64, 68, .., 88)   grade 1: 8 (61, .., 89)
                              grade 2: 8 (62, .., 90)       grade 3: 7 (63, .., 87)

Products 1001-1004 are unlabelled catalog products for the random-product sanity figure.

The tiers (scripts; .91 on one grade and .03 elsewhere is "one-hot"):

- "cheap" (cost 1): one-hot on the human grade when it is 0 or 3, uniform (.25 each) when it
  is 1 or 2. Per-class isotonic maps: .91 -> 1 and .03 -> 0 for grades 0 and 3; for grades
  1 and 2, .03 -> 0 and .25 -> the share of that grade among the uniform answers. Fitted on
  the whole calibration split (15 ones, 15 twos among 30 uniform answers) a uniform answer
  becomes (0, .5, .5, 0): expected grade 1.5, decided 2 at the cuts .5/1.5/2.5 (deciding 1
  instead scores the same QWK, so the fit keeps the default cuts), confidence
  1 - (.5 * 1) / 9 = 17/18. A one-hot answer becomes exactly one-hot: confidence 1.
- "middle" (cost 3): always (.1, .2, .3, .4). Each isotonic map sees one x value, so it is
  constant at the grade's frequency, 1/4: calibrated uniform, expected grade 1.5, grade 2
  for every pair. Useless: it is bypassed.
- "top" (cost 10): one-hot on the human grade: calibrated one-hot, always right,
  confidence 1.

The route: "cheap" is certain (confidence 1) exactly on the pairs it gets right, so the route
cheap -> top with threshold 1 is perfect, and costs (30 * 1 + 30 * 11) / (60 * 10) = .6 on
the calibration split against 1.0 for "top" alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from annotator.backends.base import Pair
from annotator.backends.scripted import ScriptedBackend
from annotator.cascade import TierSpec
from annotator.cascade_calibration import calibrate_cascade
from annotator.decision import Decider
from annotator.fitting import cap_split
from annotator.injection import INJECTIONS
from annotator.outcome import Gate
from annotator.pairs import LabelledPair
from core.errors import DissentError
from prompts import load_prompt
from store.schema import Calibration, Judgment
from tests.annotator.conftest import store_of

SPLITS = {"calibration": range(1, 21), "test": range(21, 31), "train": range(31, 32)}
RANDOM_PRODUCTS = [1001, 1002, 1003, 1004]


def labelled() -> list[LabelledPair]:
    out = []
    for split, queries in SPLITS.items():
        for query in queries:
            for k in (1, 2, 3):
                product = 3 * (query - 1) + k
                pair = Pair(
                    query, product, f"h{product}", f"query {query}", {"title": f"p{product}"}
                )
                out.append(LabelledPair(pair, product % 4, split))
    return out


LABELLED = labelled()
HUMAN = {lp.pair.product_id: lp.grade for lp in LABELLED}
# (test query, random product): 21-1001, 22-1002, 23-1003, 24-1004
RANDOM_PAIRS = [
    Pair(20 + i, p, f"h{p}", f"query {20 + i}", {"title": f"p{p}"})
    for i, p in enumerate(RANDOM_PRODUCTS, start=1)
]


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    products = [lp.pair.product_id for lp in LABELLED] + RANDOM_PRODUCTS
    queries = {q: f"query {q}" for q in range(1, 32)}
    return store_of(tmp_path / "s.db", queries, products, title="p{}")


def one_hot(grade: int) -> list[float]:
    return [0.91 if g == grade else 0.03 for g in range(4)]


def tiers(random_grade: int = 0, top_cap: int | None = None) -> list[TierSpec]:
    """cheap, middle, top (see the module docstring); random products get ``random_grade``
    one-hot from cheap and top."""

    def cheap(p: Pair) -> list[float]:
        human = HUMAN.get(p.product_id)
        if human is None:
            return one_hot(random_grade)
        return one_hot(human) if human in (0, 3) else [0.25] * 4

    def top(p: Pair) -> list[float]:
        return one_hot(HUMAN.get(p.product_id, random_grade))

    return [
        TierSpec("cheap", ScriptedBackend("cheap", cheap), cost_weight=1.0),
        TierSpec("middle", ScriptedBackend("middle", lambda p: [0.1, 0.2, 0.3, 0.4]), 3.0),
        TierSpec("top", ScriptedBackend("top", top), cost_weight=10.0, max_eval_pairs=top_cap),
    ]


def calls(spec: TierSpec) -> list[Pair]:
    backend = spec.backend
    assert isinstance(backend, ScriptedBackend)
    return backend.calls


# --------------------------------------------------------------------- calibrate_cascade


def test_calibrate_cascade_end_to_end(store: Engine) -> None:
    specs = tiers()
    outcome = calibrate_cascade(
        store,
        specs,
        load_prompt(),
        LABELLED,
        budget=1.0,
        min_qwk=0.9,
        injection_pairs=2,
        random_pairs=RANDOM_PAIRS,
    )
    assert outcome.prompt_version == load_prompt().version
    assert (outcome.objective, outcome.budget) == ("qwk", 1.0)
    assert outcome.splits == {
        "train": {"pairs": 3, "queries": 1},
        "calibration": {"pairs": 60, "queries": 20},
        "test": {"pairs": 30, "queries": 10},
    }
    cheap, middle, top = outcome.tiers
    assert [t.pairs for t in outcome.tiers] == [{"calibration": 60, "test": 30}] * 3
    # every tier grades 60 + 30 labelled pairs (never the training split), 4 random products
    # and 2 test pairs x 6 injections; judgments are counted for the labelled pairs only
    assert [len(calls(s)) for s in specs] == [90 + 4 + 2 * len(INJECTIONS)] * 3
    assert [(t.model_calls, t.cache_hits, t.failures) for t in outcome.tiers] == [(90, 0, 0)] * 3
    assert [(t.name, t.model_id, t.cost) for t in outcome.tiers] == [
        ("cheap", "scripted:cheap", 1.0),
        ("middle", "scripted:middle", 3.0),
        ("top", "scripted:top", 10.0),
    ]

    # The route: cheap -> top, threshold 1 (see the module docstring); middle bypassed.
    cascade = outcome.cascade
    assert (cascade.route, cascade.thresholds) == (["cheap", "top"], [1.0])
    assert cascade.cv_score == 1.0
    assert (cheap.bypassed, top.bypassed) == ("", "")
    assert middle.bypassed.startswith("no route through it beats the chosen one")
    assert top.cv_score == 1.0 and middle.cv_score < cheap.cv_score < 1.0

    # The test split: cheap decides its 14 one-hot pairs (grades 0 and 3), top the 16 others.
    assert cascade.decided_share == pytest.approx({"cheap": 14 / 30, "middle": 0.0, "top": 16 / 30})
    assert sum(cascade.decided_share.values()) == pytest.approx(1.0)
    assert (cascade.test.n, cascade.test.exact, cascade.test.qwk) == (30, 1.0, 1.0)
    assert cascade.confusion == [[7, 0, 0, 0], [0, 8, 0, 0], [0, 0, 8, 0], [0, 0, 0, 7]]
    assert cascade.qwk_interval == (1.0, 1.0) and cascade.exact_interval == (1.0, 1.0)
    # 14 pairs cost 1, 16 cost 1 + 10 (middle is not charged): 190 / (30 * 10)
    assert cascade.cost_share_of_top_tier == pytest.approx(190 / 300)
    assert cascade.per_1k_pairs_seconds is None  # costs are weights, not seconds
    # each tier alone on the cascade's 30 test pairs (the figures below, per tier)
    assert cascade.tiers_on_same_pairs == pytest.approx(
        {"cheap": 63 / 71, "middle": 0.0, "top": 1.0}
    )

    # cheap on the test split. Raw (argmax): the uniform answers say 0, so right on the 14
    # one-hot pairs only. Calibrated: grade 2 on the uniform ones, right on 8 more.
    assert cheap.raw.exact == pytest.approx(14 / 30)
    assert cheap.calibrated.exact == pytest.approx(22 / 30)
    assert cheap.calibrated.within_one == 1.0
    # QWK: 8 errors of one -> sum(w O) = 8/9; rows (7, 8, 8, 7), cols (7, 0, 16, 7), n = 30:
    #   sum_i rows_i (i - j)^2 = 103 (j = 0), 43 (j = 2), 103 (j = 3)
    #   sum(w E) = (7*103 + 16*43 + 7*103) / (9 * 30) = 2130/270 -> 1 - 240/2130 = 63/71
    assert cheap.calibrated.qwk == pytest.approx(63 / 71)
    assert cheap.confusion == [[7, 0, 0, 0], [0, 0, 8, 0], [0, 0, 8, 0], [0, 0, 0, 7]]
    assert cheap.decider == {"objective": "qwk", "cutpoints": (0.5, 1.5, 2.5)}
    for t in (cheap, top):
        assert t.qwk_interval is not None and t.exact_interval is not None
        assert t.qwk_interval[0] <= (t.calibrated.qwk or 0.0) <= t.qwk_interval[1]
        assert t.exact_interval[0] <= (t.calibrated.exact or 0.0) <= t.exact_interval[1]
    # middle says 2 everywhere: right on the 8 twos; within one of 1, 2 and 3 (23 pairs)
    assert middle.calibrated.exact == pytest.approx(8 / 30)
    assert middle.calibrated.within_one == pytest.approx(23 / 30)
    assert middle.calibrated.qwk == pytest.approx(0.0)
    assert top.calibrated.exact == 1.0 and top.isotonic is not None
    # calibrated top is certain and right: one reliability bin (the last), no calibration error
    assert top.reliability_after == {
        "bins": [{"bin": 9, "count": 30, "confidence": 1.0, "accuracy": 1.0}],
        "ece": 0.0,
    }

    # Random products: cheap and top say 0 (cheap is certain, so it decides); middle says 2.
    assert [t.random_relevant for t in outcome.tiers] == [0.0, 1.0, 0.0]
    assert (cascade.random_relevant, cascade.random_pairs) == (0.0, 4)
    # Injection: no script reads the product text, so nothing flips.
    assert [t.flip_rate for t in outcome.tiers] == [0.0, 0.0, 0.0]
    assert cascade.flip_rate == 0.0
    attacks = 2 * len(INJECTIONS)  # 2 test pairs, each attacked by every injection
    assert [t.flip_attacks for t in outcome.tiers] == [attacks] * 3
    assert cascade.flip_attacks == attacks
    assert cascade.flip_interval is not None and cascade.flip_interval[0] == 0.0
    assert 0.0 < cascade.flip_interval[1] < 1.0  # none of few attacks flipped: not proof of 0%
    assert outcome.gate == Gate(
        min_qwk=0.9, qwk=1.0, max_random_relevant=0.05, random_relevant=0.0, passed=True
    )

    # One calibrations row per tier: maps, decider, threshold or why it is bypassed.
    with store.connect() as conn:
        rows = conn.execute(
            select(
                Calibration.id,
                Calibration.tier,
                Calibration.model_id,
                Calibration.prompt_hash,
                Calibration.isotonic,
                Calibration.thresholds,
                Calibration.fitted_on,
            ).order_by(Calibration.tier)
        ).all()
    assert [r.id for r in rows] == outcome.calibration_ids
    assert [(r.tier, r.model_id, r.prompt_hash) for r in rows] == [
        (1, "scripted:cheap", load_prompt().version),
        (2, "scripted:middle", load_prompt().version),
        (3, "scripted:top", load_prompt().version),
    ]
    common = {"objective": "qwk", "budget": 1.0}
    assert rows[0].thresholds == {
        "accept": 1.0,
        "bypassed": False,
        "reason": "",
        "decider": {"objective": "qwk", "cutpoints": [0.5, 1.5, 2.5]},
        **common,
    }
    assert rows[1].thresholds["accept"] is None and rows[1].thresholds["bypassed"] is True
    assert rows[1].thresholds["reason"] == middle.bypassed
    assert (rows[2].thresholds["accept"], rows[2].thresholds["bypassed"]) == (None, False)
    for row, evaluation in zip(rows, outcome.tiers, strict=True):
        assert Decider.from_json(row.thresholds["decider"]) == Decider.from_json(evaluation.decider)
        assert row.isotonic == evaluation.isotonic
        assert {k: row.thresholds[k] for k in common} == common
    assert rows[0].fitted_on == {"split": "calibration", "pairs": 60, "queries": 20, "seed": 0}


def test_a_gate_above_the_cascade_qwk_fails(store: Engine) -> None:
    outcome = calibrate_cascade(store, tiers(), load_prompt(), LABELLED, budget=1.0, min_qwk=1.01)
    assert outcome.cascade.test.qwk == 1.0
    # no random products: no sanity figure, and that part of the gate passes
    assert outcome.gate == Gate(
        min_qwk=1.01, qwk=1.0, max_random_relevant=0.05, random_relevant=None, passed=False
    )
    assert outcome.cascade.random_pairs == 0


def test_random_products_graded_relevant_fail_the_gate(store: Engine) -> None:
    # cheap and top grade every random product 3 (certain): the cascade calls all 4 relevant
    outcome = calibrate_cascade(
        store,
        tiers(random_grade=3),
        load_prompt(),
        LABELLED,
        budget=1.0,
        min_qwk=0.9,
        random_pairs=RANDOM_PAIRS,
    )
    assert [t.random_relevant for t in outcome.tiers] == [1.0, 1.0, 1.0]
    assert outcome.gate == Gate(
        min_qwk=0.9, qwk=1.0, max_random_relevant=0.05, random_relevant=1.0, passed=False
    )
    # a looser limit lets it pass (the judgments are cached now)
    loose = calibrate_cascade(
        store,
        tiers(random_grade=3),
        load_prompt(),
        LABELLED,
        budget=1.0,
        max_random_relevant=1.0,
        random_pairs=RANDOM_PAIRS,
    )
    assert loose.gate.passed is True


def test_a_second_run_calls_no_model(store: Engine) -> None:
    calibrate_cascade(store, tiers(), load_prompt(), LABELLED, budget=1.0)
    specs = tiers()
    again = calibrate_cascade(store, specs, load_prompt(), LABELLED, budget=1.0)
    assert [(t.model_calls, t.cache_hits) for t in again.tiers] == [(0, 90)] * 3
    assert [len(calls(s)) for s in specs] == [0, 0, 0]
    with store.connect() as conn:
        assert conn.execute(select(Calibration.tier)).scalars().all() == [1, 2, 3, 1, 2, 3]


def test_a_tight_budget_keeps_the_cheap_tier_alone(store: Engine) -> None:
    # cheap alone costs 60 * 1 / (60 * 10) = .1; any route that sends a pair past it costs
    # more, so within budget .1 cheap decides everything.
    outcome = calibrate_cascade(store, tiers(), load_prompt(), LABELLED, budget=0.1)
    assert outcome.cascade.route == ["cheap"] and outcome.cascade.thresholds == []
    assert outcome.cascade.decided_share == {"cheap": 1.0, "middle": 0.0, "top": 0.0}
    # cheap alone on the test split: 14 + 8 of 30 right (as in the end-to-end test)
    assert outcome.cascade.test.exact == pytest.approx(22 / 30)
    assert outcome.cascade.cost_share_of_top_tier == pytest.approx(0.1)
    assert [t.bypassed != "" for t in outcome.tiers] == [False, True, True]


def test_a_tier_with_max_eval_pairs_grades_only_that_many(store: Engine) -> None:
    specs = tiers(top_cap=30)
    outcome = calibrate_cascade(store, specs, load_prompt(), LABELLED, budget=1.0)
    # top: the calibration split capped at 30 pairs (10 whole queries), the test split (30)
    # whole: 60 pairs graded; the others grade all 90
    cheap, middle, top = outcome.tiers
    assert top.pairs == {"calibration": 30, "test": 30}
    assert cheap.pairs == middle.pairs == {"calibration": 60, "test": 30}
    assert [t.model_calls for t in outcome.tiers] == [90, 90, 60]
    assert len(calls(specs[2])) == 60
    with store.connect() as conn:
        judged = dict(
            conn.execute(select(Judgment.model_id, func.count()).group_by(Judgment.model_id)).all()
        )
    assert judged == {"scripted:cheap": 90, "scripted:middle": 90, "scripted:top": 60}
    # the capped pairs are the seeded whole-query subsample, and every one of them was also
    # graded by the uncapped tiers
    calibration = [lp for lp in LABELLED if lp.split == "calibration"]
    expected = {lp.pair.product_id for lp in cap_split(calibration, 30, seed=0)}
    graded = {p.product_id for p in calls(specs[2])}
    assert graded == expected | set(range(61, 91))
    assert graded <= {p.product_id for p in calls(specs[0])}
    with store.connect() as conn:
        fitted_on = conn.execute(
            select(Calibration.fitted_on).where(Calibration.tier == 3)
        ).scalar_one()
    assert fitted_on == {"split": "calibration", "pairs": 30, "queries": 10, "seed": 0}


def test_too_few_usable_calibration_answers_leave_a_tier_uncalibrated(store: Engine) -> None:
    # "sparse" fails on calibration queries 1-17 (51 pairs: 9 usable answers < 10) and on test
    # query 21 (products 61-63); elsewhere it answers (.1, .2, .3, .4), argmax 3.
    def script(p: Pair) -> RuntimeError | list[float]:
        if p.query_id <= 17 or p.query_id == 21:
            return RuntimeError("timeout")
        return [0.1, 0.2, 0.3, 0.4]

    sparse = ScriptedBackend("sparse", script)
    specs = [TierSpec("sparse", sparse, cost_weight=1.0, max_attempts=1), tiers()[2]]
    outcome = calibrate_cascade(
        store, specs, load_prompt(), LABELLED, objective="exact", budget=1.0
    )
    tier = outcome.tiers[0]
    assert tier.isotonic is None
    assert tier.decider == {"objective": "exact", "cutpoints": None}
    assert tier.failures == 54  # 51 on the calibration split, 3 on the test split
    # uncalibrated, and deciding by argmax: the calibrated figures are the raw ones. Graded
    # test pairs: 64..90 (27); grade 3 among them: 67, 71, .., 87 (6) -> 6/27
    assert tier.calibrated == tier.raw
    assert tier.calibrated.coverage == pytest.approx(27 / 30)
    assert tier.calibrated.exact == pytest.approx(6 / 27)


def test_no_test_labels_is_an_error(store: Engine) -> None:
    only_cal = [lp for lp in LABELLED if lp.split == "calibration"]
    with pytest.raises(DissentError, match="have 60 and 0 pairs"):
        calibrate_cascade(store, tiers(), load_prompt(), only_cal, budget=1.0)


def test_the_route_depends_on_the_objective(store: Engine) -> None:
    # exact: cheap's uncertain answers are right only half the time, so the route sends them
    # on to top, and the cascade is exactly right on the test split
    exact = calibrate_cascade(
        store, tiers(), load_prompt(), LABELLED, objective="exact", budget=1.0
    )
    assert exact.objective == "exact"
    assert exact.cascade.route == ["cheap", "top"]
    assert exact.cascade.test.exact == 1.0
    assert exact.tiers[2].decider == {"objective": "exact", "cutpoints": None}
    # within one: cheap alone is always within one, so it is perfect on its own at cost .1.
    # Its decisions take the grade of the most mass within one, ties to the likelier grade:
    # uncertain (0, .5, .5, 0) -> masses .5 1 1 .5 -> 1 (1 and 2 equally likely: the first);
    # certain 0 -> 0; certain 3 (0, 0, 0, 1) -> masses 0 0 1 1 -> 3.
    # Exactly right on the 7 zeros, 8 ones and 7 threes of the test split: 22/30.
    within = calibrate_cascade(
        store, tiers(), load_prompt(), LABELLED, objective="within_one", budget=1.0
    )
    assert within.cascade.route == ["cheap"]
    assert within.cascade.cv_score == 1.0
    assert within.cascade.cost_share_of_top_tier == pytest.approx(0.1)
    assert within.cascade.test.within_one == 1.0
    assert within.cascade.test.exact == pytest.approx(22 / 30)
    assert within.cascade.confusion == [[7, 0, 0, 0], [0, 8, 0, 0], [0, 8, 0, 0], [0, 0, 0, 7]]
