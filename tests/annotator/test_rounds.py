"""Label sources and the before/after of two calibrations (annotator.rounds), on a hand-made
SQLite store: the counts read from ``human_labels``, the previous run read from the ledger,
the report's lines, and ``calibrate`` twice end to end with a scripted tier.

The store: 40 queries ``q1``..``q40`` split by the default fractions and seed (the test picks
the calibration and test ones by :func:`store.splits.split_of`); each labelled query has three
products ``10 q + k`` (k = 0, 1, 2) graded ``k + 1`` by ``homedepot``; the review page adds
product ``10 q + 5`` graded 3 on some calibration and test queries. Products 900-919 are
unlabelled (random products).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from annotator.backends.base import Pair
from annotator.backends.scripted import ScriptedBackend
from annotator.calibrating import calibrate
from annotator.cascade import TierSpec
from annotator.outcome import CalibrationOutcome, PreviousRound
from annotator.pairs import LabelledPair, labelled_pairs
from annotator.rounds import (
    label_counts,
    label_line,
    labels_fingerprint,
    previous_round,
    round_lines,
)
from flows.config import PipelineConfig, load_config
from store.ledger import Flow, latest_run, recorded_run
from store.schema import HumanLabel
from store.splits import split_of
from tests.annotator.conftest import store_of
from tests.annotator.test_report import outcome as report_outcome

CONFIG = load_config(None, environ={})
FRACTIONS, SEED = CONFIG.splits.fractions, CONFIG.splits.seed
SPLIT = {q: split_of(f"q{q}", FRACTIONS, SEED) for q in range(1, 41)}
CAL = [q for q, s in SPLIT.items() if s == "calibration"]
TEST = [q for q, s in SPLIT.items() if s == "test"]
TRAIN = [q for q, s in SPLIT.items() if s == "train"]
EVAL = [q for q, s in SPLIT.items() if s == "evaluation"]
RANDOM_PRODUCTS = list(range(900, 920))


def grade_of(product: int) -> int:
    """The human grade of every labelled product, whoever gave it."""
    return 3 if product % 10 == 5 else product % 10 + 1


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    products = [10 * q + k for q in SPLIT for k in (0, 1, 2, 5)] + RANDOM_PRODUCTS
    engine = store_of(tmp_path / "s.db", {q: f"query {q}" for q in SPLIT}, products)
    add_labels(engine, "homedepot", [(q, 10 * q + k) for q in SPLIT for k in (0, 1, 2)])
    return engine


def add_labels(engine: Engine, source: str, pairs: list[tuple[int, int]]) -> None:
    rows = [
        {"query_id": q, "product_id": p, "grade": grade_of(p), "raw_label": "x", "source": source}
        for q, p in pairs
    ]
    with engine.begin() as conn:
        conn.execute(insert(HumanLabel), rows)


def page(queries: list[int]) -> list[tuple[int, int]]:
    """What the review page labelled: product ``10 q + 5`` of each query."""
    return [(q, 10 * q + 5) for q in queries]


def test_the_splits_the_store_relies_on() -> None:
    assert len(CAL) >= 6 and len(TEST) >= 6 and TRAIN and EVAL


# ------------------------------------------------------------------------------ counting


def test_calibrate_reads_review_labels_and_counts_them_per_source(store: Engine) -> None:
    add_labels(store, "review", page(CAL[:4] + TEST[:2] + TRAIN[:1] + EVAL[:1]))
    labelled = labelled_pairs(store, CONFIG.splits)
    review = [lp for lp in labelled if lp.source == "review"]
    # the page's labels on calibration, test and training queries are read with their grade;
    # the evaluation query's never is
    assert sorted((lp.pair.query_id, lp.split, lp.grade) for lp in review) == sorted(
        [(q, "calibration", 3) for q in CAL[:4]]
        + [(q, "test", 3) for q in TEST[:2]]
        + [(TRAIN[0], "train", 3)]
    )
    assert label_counts(labelled) == {
        "calibration": {"homedepot": 3 * len(CAL), "review": 4},
        "test": {"homedepot": 3 * len(TEST), "review": 2},
    }
    # a configured label_source reads that source alone
    only = labelled_pairs(store, CONFIG.splits, "review")
    assert {lp.source for lp in only} == {"review"} and len(only) == 7


def test_a_pair_labelled_by_two_sources_counts_once_per_source(store: Engine) -> None:
    q = CAL[0]
    add_labels(store, "review", [(q, 10 * q)])  # the page agrees with homedepot on a pair
    labelled = [lp for lp in labelled_pairs(store, CONFIG.splits) if lp.pair.query_id == q]
    assert [(lp.pair.product_id, lp.source) for lp in labelled] == [
        (10 * q, "homedepot"),
        (10 * q, "review"),
        (10 * q + 1, "homedepot"),
        (10 * q + 2, "homedepot"),
    ]
    assert label_counts(labelled)["calibration"] == {"homedepot": 3, "review": 1}


def test_random_products_are_not_counted_as_labels() -> None:
    pair = Pair(1, 2, "h2", "drill", {})
    labelled = [LabelledPair(pair, 0, "calibration"), LabelledPair(pair, 1, "train", "review")]
    assert label_counts(labelled) == {"calibration": {}, "test": {}}


def test_the_fingerprint_changes_with_any_test_label_and_nothing_else() -> None:
    def lp(
        product: int, grade: int, split: str = "test", source: str = "homedepot"
    ) -> LabelledPair:
        return LabelledPair(Pair(1, product, f"h{product}", "q", {}), grade, split, source)

    base = [lp(1, 2), lp(2, 3), lp(3, 1, "calibration")]
    same = labels_fingerprint(base)
    assert labels_fingerprint(list(reversed(base))) == same  # order-free
    assert labels_fingerprint([*base, lp(4, 0, "calibration"), lp(5, 0, source="")]) == same
    assert labels_fingerprint([lp(1, 2), lp(2, 2), lp(3, 1, "calibration")]) != same  # a grade
    assert labels_fingerprint([*base, lp(6, 1, source="review")]) != same  # a label
    assert labels_fingerprint([lp(1, 2), lp(2, 3, source="review")]) != same  # a source


# ----------------------------------------------------------------------- the previous run


def test_previous_round_reads_the_newest_succeeded_calibration(store: Engine) -> None:
    assert previous_round(store) is None
    with recorded_run(store, Flow.CALIBRATE, {}) as old:  # recorded before labels were counted
        old.counts = {"cascade_test": {"n": 80, "qwk": 0.498, "exact": 0.58}, "gate": {}}
    assert previous_round(store) == PreviousRound(old.id, 0.498, 0.58, 80, None, None)
    labels = {"calibration": {"homedepot": 900}, "test": {"homedepot": 80}}
    with recorded_run(store, Flow.CALIBRATE, {}) as new:
        new.counts = {
            "cascade_test": {"n": 80, "qwk": 0.5, "exact": None},
            "labels": labels,
            "test_labels": "abc",
        }
    with pytest.raises(RuntimeError), recorded_run(store, Flow.CALIBRATE, {}):
        raise RuntimeError("a failed gate")  # a failed run is not a round
    assert previous_round(store) == PreviousRound(new.id, 0.5, None, 80, labels, "abc")


# -------------------------------------------------------------------------- the lines


def counted(previous: PreviousRound | None, fingerprint: str = "new") -> CalibrationOutcome:
    """The report's hand-built outcome with label counts and ``previous``; its cascade: test
    QWK 0.8, exact 65%; calibration 1,234 pairs."""
    outcome = report_outcome(passed=True)
    outcome.labels = {
        "calibration": {"homedepot": 1000, "review": 200},
        "test": {"homedepot": 80, "review": 17},
    }
    outcome.test_labels, outcome.previous = fingerprint, previous
    return outcome


BEFORE = {"calibration": {"homedepot": 1000, "review": 150}, "test": {"homedepot": 80}}


def test_label_line_counts_sources_and_random_products() -> None:
    outcome = counted(None)
    assert label_line(outcome) == (
        "Human labels by source: calibration: 1,200 labels (homedepot 1,000; review 200), "
        "test: 97 labels (homedepot 80; review 17); the calibration split adds 34 random "
        "catalog products taken as Irrelevant."
    )
    assert label_line(report_outcome(passed=True)) is None  # not counted: no line


def test_round_lines_when_the_test_labels_changed() -> None:
    previous = PreviousRound(7, 0.75, 0.6125, 80, BEFORE, "old")
    # QWK .8 - .75 = .05000000000000004 -> +0.050; exact .65 - .6125 -> +3.7 points
    assert round_lines(counted(previous)) == [
        "Before and after (against run 7, the previous succeeded calibration): cascade test QWK "
        "0.800 (run 7: 0.750, +0.050), exact 65.0% (run 7: 61.3%, +3.7 points); 97 test labels "
        "(run 7: 80; +17 review), 1,200 calibration labels (run 7: 1,150; +50 review).",
        "The test labels changed since run 7: the cascade and its yardstick both moved, so this "
        "is a before/after, not a controlled comparison.",
    ]


def test_round_lines_on_the_same_test_labels_and_against_an_older_run() -> None:
    same = PreviousRound(7, 0.9, None, 97, {**BEFORE, "test": {"homedepot": 80, "review": 17}}, "x")
    lines = round_lines(counted(same, fingerprint="x"))
    assert lines[0].endswith(
        "cascade test QWK 0.800 (run 7: 0.900, -0.100), exact 65.0% (run 7: –); 97 test labels "
        "(run 7: 97), 1,200 calibration labels (run 7: 1,150; +50 review)."
    )
    assert lines[1] == (
        "Run 7 was tested on the same labels: the difference is the cascade's (its calibration "
        "labels, tiers or route), not the yardstick's."
    )
    old = PreviousRound(3, 0.5, 0.5, 40, None, None)
    lines = round_lines(counted(old))
    assert "97 test labels (run 3: not recorded), 1,200 calibration labels (run 3: not " in lines[0]
    assert lines[1].startswith("Run 3 did not record its test labels")
    assert round_lines(counted(None)) == [
        "Before and after: no earlier succeeded calibration to compare with."
    ]


# ------------------------------------------------------------- calibrate, two rounds


def perfect(pair: Pair) -> list[float]:
    """One-hot on the human grade (0 for a product of another query, or a random one)."""
    grade = grade_of(pair.product_id) if pair.product_id // 10 == pair.query_id else 0
    return [0.91 if g == grade else 0.03 for g in range(4)]


@contextmanager
def scripted_tiers(config: PipelineConfig) -> Iterator[list[TierSpec]]:
    yield [TierSpec("scripted", ScriptedBackend("perfect", perfect), cost_weight=1.0)]


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PipelineConfig:
    monkeypatch.setattr("annotator.calibrating.open_tiers", scripted_tiers)
    cfg = CONFIG.model_copy(deep=True)
    cfg.workdir = tmp_path / "work"
    cfg.annotation.random_pairs = 10
    cfg.annotation.injection_pairs = 0
    cfg.annotation.cv_folds = 2
    return cfg


def test_calibrate_twice_compares_the_rounds(store: Engine, config: PipelineConfig) -> None:
    first, _ = calibrate(store, config, config.workdir / "one")
    assert first.previous is None
    assert first.labels == {
        "calibration": {"homedepot": 3 * len(CAL)},
        "test": {"homedepot": 3 * len(TEST)},
    }
    run = latest_run(store, Flow.CALIBRATE)
    assert run is not None and run.counts["labels"] == first.labels
    assert run.counts["test_labels"] == first.test_labels

    add_labels(store, "review", page(CAL[:3] + TEST[:2]))  # a round of labelling on the page
    second, paths = calibrate(store, config, config.workdir / "two")
    assert second.labels == {
        "calibration": {"homedepot": 3 * len(CAL), "review": 3},
        "test": {"homedepot": 3 * len(TEST), "review": 2},
    }
    assert second.previous == PreviousRound(
        run.id, 1.0, 1.0, 3 * len(TEST), first.labels, first.test_labels
    )
    assert second.test_labels != first.test_labels
    assert second.cascade.test.n == 3 * len(TEST) + 2  # the page's test labels are tested on
    text = paths["markdown"].read_text()
    n_cal, n_test = 3 * len(CAL), 3 * len(TEST)
    assert (
        f"Human labels by source: calibration: {n_cal + 3:,} labels (homedepot {n_cal}; review 3), "
        f"test: {n_test + 2} labels (homedepot {n_test}; review 2)" in text
    )
    assert (
        f"cascade test QWK 1.000 (run {run.id}: 1.000, +0.000), exact 100.0% (run {run.id}: "
        f"100.0%, +0.0 points); {n_test + 2} test labels (run {run.id}: {n_test}; +2 review), "
        f"{n_cal + 3} calibration labels (run {run.id}: {n_cal}; +3 review). The test labels "
        f"changed since run {run.id}" in text
    )
    assert "The test labels changed since" in paths["html"].read_text()
