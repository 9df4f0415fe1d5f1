"""A budget arm's labels: the random draw written as its own source (test split beside it),
and the arm's config pointing every stage at that source and its own folder."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from flows.budget import arm_config, draw_random, human_labels
from flows.config import load_config
from store.budgets import labels_of_splits
from tests.store.test_budgets import _store


def test_a_random_draw_is_written_with_the_test_split_beside_it(
    engine: Engine, tmp_path: Path
) -> None:
    _store(engine)
    config = load_config(None, {})
    drawn = draw_random(engine, config, 12, seed=0, origin="data")
    assert drawn.source == "budget-random-12" and drawn.pairs >= 12
    assert sum(drawn.per_split.values()) == drawn.pairs
    assert set(drawn.per_split) == {"train", "calibration"}
    spent = labels_of_splits(engine, config.splits, ("train", "calibration"), drawn.source)
    assert sum(map(len, spent.values())) == drawn.pairs and len(spent) == drawn.queries
    test = labels_of_splits(engine, config.splits, ("test",), "data")
    assert labels_of_splits(engine, config.splits, ("test",), drawn.source) == test
    assert labels_of_splits(engine, config.splits, ("evaluation",), "data")  # there are some,
    assert (
        labels_of_splits(engine, config.splits, ("evaluation",), drawn.source) == {}
    )  # not copied
    every = draw_random(engine, config, None, seed=0, origin="data")
    assert every.source == "budget-random-all" and every.pairs > drawn.pairs


def test_an_arm_reads_its_source_and_writes_under_its_folder(tmp_path: Path) -> None:
    config = load_config(None, {})
    arm = arm_config(config, tmp_path / "random@500", "budget-random-500")
    assert arm.annotation.label_source == "budget-random-500"
    assert arm.annotation.tiers[0].model == str(tmp_path / "random@500" / "tier1")
    assert arm.export.output_dir == tmp_path / "random@500" / "export"
    assert arm.train.output_dir == tmp_path / "random@500" / "models"
    assert config.annotation.label_source is None  # the config itself is untouched
    assert human_labels("budget-random-500").splits == ("train", "calibration")
