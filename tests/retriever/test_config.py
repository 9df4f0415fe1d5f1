"""The ``train`` section: what a user sets, with a description each; experiment knobs are gone."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from flows.config import PipelineConfig, load_config
from retriever.config import TrainConfig


def test_every_key_is_described() -> None:
    for name, field in TrainConfig.model_fields.items():
        assert field.description and "\n" not in field.description, name


@pytest.mark.parametrize(
    "key", ["PRECISION", "EVAL_TOP_K", "TRIPLET_MARGIN", "HARD_NEGATIVES", "RECIPES__0"]
)
def test_experiment_knobs_are_no_keys(key: str) -> None:
    value = "staged-masked" if key == "RECIPES__0" else "1"
    with pytest.raises(ConfigError):
        load_config(environ={f"DISSENT_TRAIN__{key}": value})


def test_recipes_default_to_three_and_precision_is_the_pipelines() -> None:
    cfg = load_config(environ={"DISSENT_PRECISION": "float32"})
    assert cfg.train.recipes == ["human", "mixed", "staged"]
    assert cfg.precision == "float32"
    assert load_config(environ={"DISSENT_TRAIN__RECIPES": "[human+mixed]"}).train.recipes == [
        "human+mixed"
    ]
    assert isinstance(PipelineConfig().train, TrainConfig)
