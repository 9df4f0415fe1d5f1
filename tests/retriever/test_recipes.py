"""Recipes: the library's table, its defaults, the ablations benchmarks train through it."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from bench.ablations import ABLATIONS, TABLE
from core.errors import DissentError
from retriever.recipes import (
    DEFAULT_RECIPES,
    RECIPES,
    RecipeName,
    check_recipes,
    reads_export,
    recipe_stages,
)


def test_the_library_trains_six_recipes_and_three_by_default() -> None:
    assert tuple(RECIPES) == typing.get_args(RecipeName)
    assert DEFAULT_RECIPES == ("human", "mixed", "staged")


def test_recipes_list_their_stages_in_order() -> None:
    assert [(s.data, s.loss) for s in recipe_stages("staged")] == [
        ("stage1_bce", "bce"),
        ("stage2_mnr", "mnr"),
        ("stage3_triplet", "triplet"),
    ]
    assert [(s.data, s.loss) for s in recipe_stages("human+staged")] == [
        ("human", "mnr"),
        *((s.data, s.loss) for s in recipe_stages("staged")),
    ]
    assert [(s.data, s.loss) for s in recipe_stages("human+mixed")] == [("human+mixed", "mnr")]
    assert [(s.data, s.loss) for s in recipe_stages("human-hardneg")] == [("human_hardneg", "mnr")]


def test_the_ablations_change_one_thing_each() -> None:
    assert not set(ABLATIONS) & set(RECIPES)
    staged = recipe_stages("staged")
    inbatch = recipe_stages("staged-inbatch", TABLE)
    assert [s.data for s in inbatch] == [s.data for s in staged]  # stage 3 under MNR
    assert [s.loss for s in inbatch] == ["bce", "mnr", "mnr"]
    assert recipe_stages("human+staged-inbatch", TABLE) == [recipe_stages("human")[0], *inbatch]
    assert [s.loss for s in recipe_stages("staged-masked", TABLE)] == [
        "bce",
        "masked_mnr",
        "triplet",
    ]
    assert recipe_stages("staged+graded", TABLE)[:3] == staged
    assert recipe_stages("staged+graded", TABLE)[-1].loss == "graded"
    hardneg = recipe_stages("human-hardneg-masked", TABLE)
    assert [(s.data, s.loss) for s in hardneg] == [("human_hardneg", "masked_mnr")]


def test_an_unknown_recipe_names_the_known_ones() -> None:
    with pytest.raises(
        DissentError, match=r"unknown recipe\(s\) staged-masked; choose from human,"
    ):
        recipe_stages("staged-masked")  # an ablation: not the library's
    assert check_recipes(["mixed", "human", "mixed"]) == ["mixed", "human"]


def test_only_the_human_stage_reads_no_export() -> None:
    assert not reads_export(recipe_stages("human"))
    assert all(reads_export(recipe_stages(name, TABLE)) for name in TABLE if name != "human")


def test_the_ablation_bench_refuses_what_the_library_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.ablations import main

    config = tmp_path / "c.yaml"
    config.write_text(f"workdir: {tmp_path / 'work'}\n")
    args = ["--recipe", "staged-inbatch", "--config", str(config), "--export", "/nonexistent"]
    assert main(args) == 1
    assert "error: no curriculum export at /nonexistent" in capsys.readouterr().err
