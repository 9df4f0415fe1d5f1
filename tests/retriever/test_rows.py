"""Stage rows: human labels of the tier-training split, the curriculum mixes, mined negatives."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import insert

from core.errors import DissentError
from flows.config import PipelineConfig
from retriever.recipes import Stage, recipe_stages
from retriever.rows import (
    HumanLabels,
    RowSource,
    capped,
    datasets_read,
    export_negatives,
    mixed_rows,
    stage_rows,
    with_hard_negatives,
)
from retriever.source import open_export
from store.schema import HumanLabel
from tests.retriever.conftest import HandStore, label_by_hand


def _source(exported: tuple[HandStore, PipelineConfig]) -> RowSource:
    store, cfg = exported
    return RowSource(store.engine, cfg, open_export(cfg.workdir / "export"))


def test_hard_negatives_never_take_a_positive_of_the_same_query() -> None:
    pairs = [("q1", "p1"), ("q1", "p2"), ("q2", "p3"), ("q3", "p4")]
    # p2 is a curriculum negative of q1 but a human positive of q1: never its negative
    negatives = {"q1": ["p2", "n1", "n2"], "q2": ["p1"], "q3": ["p4"]}
    rows = with_hard_negatives(pairs, negatives, random.Random(0))
    assert [r[:2] for r in rows] == pairs  # same positives, same order
    assert {r[2] for r in rows[:2]} <= {"n1", "n2"}
    assert rows[2] == ("q2", "p3", "p1")  # another query's positive is a fine negative here
    assert rows[3] == ("q3", "p4")  # no negative left: the pair stays a pair
    # a sample of the human pairs: a relevant product left out of it is still no negative
    sampled = with_hard_negatives(pairs[:1], negatives, random.Random(0), 3, relevant=pairs)
    assert sampled[0][0] == "q1" and sorted(sampled[0][2:]) == ["n1", "n2"]
    # two per pair where there are two; one draw of one is the same as before
    two = with_hard_negatives(pairs, negatives, random.Random(0), count=2)
    assert sorted(two[0][2:]) == ["n1", "n2"] and two[2] == rows[2] and two[3] == rows[3]
    many = {"q1": [f"n{i}" for i in range(40)]}  # one draw: what rng.choice draws (reruns agree)
    assert with_hard_negatives([("q1", "p1")], many, random.Random(5)) == [
        ("q1", "p1", random.Random(5).choice(many["q1"]))
    ]


def test_capped_is_a_seeded_sample() -> None:
    rows = [(f"q{i}",) for i in range(10)]
    assert capped(rows, None, random.Random(0)) == rows
    assert capped(rows, 20, random.Random(0)) == rows
    assert capped(rows, 3, random.Random(1)) == random.Random(1).sample(rows, 3)


def test_each_stage_reads_the_datasets_it_needs() -> None:
    assert datasets_read(recipe_stages("human")) == []
    assert datasets_read(recipe_stages("mixed")) == ["stage1_bce", "stage2_mnr", "stage3_triplet"]
    assert datasets_read([Stage("graded", "graded"), Stage("stage2_mnr", "mnr")]) == [
        "graded",
        "stage2_mnr",
    ]


def test_mixed_holds_the_same_examples_as_the_stages(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    rows = mixed_rows(_source(exported), random.Random(0))
    # 2 stage-2 + 4 stage-3 triplets, and the 2 stage-1 positives each with a negative
    assert len(rows) == 8 and all(len(r) == 3 for r in rows)


def test_human_hardneg_keeps_humans_sample_and_adds_curriculum_negatives(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported
    label_by_hand(store, cfg)
    cfg.train.max_examples_per_stage = 2
    source = _source(exported)
    human = stage_rows(recipe_stages("human")[0], source, 7)
    hard = stage_rows(recipe_stages("human-hardneg")[0], source, 7)
    assert [r[:2] for r in hard] == human  # the same seeded sample of human pairs
    negatives = export_negatives(source)
    relevant = set(source.human())  # all three, not only the sampled two
    assert len(relevant) == 3
    for row in hard:
        if len(row) == 3:
            assert row[2] in negatives[row[0]]
            assert (row[0], row[2]) not in relevant  # never a human-relevant product
    assert any(len(row) == 3 for row in hard)
    both = stage_rows(Stage("human+mixed", "mnr"), source, 7)
    assert len(both) == 4  # 2 human pairs and 2 of the 8 mixed triplets, capped apart


def test_a_stage_without_data_is_a_clear_error(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    source = _source(exported)  # the hand-built store has no human labels
    with pytest.raises(DissentError, match="stage human has no training examples"):
        stage_rows(Stage("human", "mnr"), source, 1)
    with pytest.raises(DissentError, match="stage human has no training examples"):
        stage_rows(Stage("human+mixed", "mnr"), source, 1)


def test_evaluation_queries_never_reach_the_human_stage(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported
    label_by_hand(store, cfg)
    cfg.splits.fractions = (0.0, 0.0, 0.0, 1.0)  # every labelled query held out
    assert _source(exported).human() == []


def test_human_stages_can_read_one_source_of_other_splits(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    """A label budget trains on the pairs it drew (its own source) of the tier-training and
    calibration splits; the evaluation split is refused outright."""
    store, cfg = exported
    label_by_hand(store, cfg)
    with store.engine.begin() as conn:  # q1: p1 again, as another source's label
        conn.execute(
            insert(HumanLabel).values(
                query_id=store.query["q1"],
                product_id=store.product["p1"],
                grade=3,
                raw_label="3",
                source="budget",
            )
        )
    export = open_export(cfg.workdir / "export")
    assert len(RowSource(store.engine, cfg, export).human()) == 4  # every source
    budget = RowSource(store.engine, cfg, export, HumanLabels("budget"))
    assert len(budget.human()) == 1  # the budget's one pair
    cfg.splits.fractions = (0.0, 1.0, 0.0, 0.0)  # every query in calibration
    assert RowSource(store.engine, cfg, export, HumanLabels("budget")).human() == []
    both = HumanLabels("budget", ("train", "calibration"))
    assert len(RowSource(store.engine, cfg, export, both).human()) == 1
    with pytest.raises(DissentError, match="evaluation split never"):
        HumanLabels("budget", ("train", "evaluation"))
