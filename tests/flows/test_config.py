from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core.errors import ConfigError
from flows.config import PipelineConfig, dump_config, explain_config, load_config


def test_defaults_need_no_file() -> None:
    cfg = load_config(None, environ={})
    assert cfg == PipelineConfig()
    assert cfg.mining.channels == ["bm25", "dense", "catalog"]
    assert [t.backend for t in cfg.annotation.tiers] == [
        "cross_encoder",
        "llama_cpp",
        "openai_compatible",
    ]
    assert cfg.store_url == "sqlite:///dissent-work/dissent.db"


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mining:\n  top_k: 200\n  bm25: {k1: 1.2}\nstore: {url: 'sqlite:///x.db'}\n")
    cfg = load_config(
        path, environ={"DISSENT_MINING__TOP_K": "100", "DISSENT_CURRICULUM__TYPO_RATE": "0.3"}
    )
    assert cfg.mining.top_k == 100  # the environment wins over the file
    assert cfg.mining.bm25.k1 == 1.2  # the file wins over the defaults
    assert cfg.mining.bm25.b == 0.75  # untouched keys keep their defaults
    assert cfg.curriculum.typo_rate == 0.3
    assert cfg.store_url == "sqlite:///x.db"


def test_dissent_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("workdir: /tmp/elsewhere\n")
    assert load_config(None, environ={"DISSENT_CONFIG": str(path)}).workdir == Path(
        "/tmp/elsewhere"
    )


def test_environment_addresses_list_items_and_parses_yaml() -> None:
    cfg = load_config(
        None,
        environ={
            "DISSENT_ANNOTATION__TIERS__2__BASE_URL": "http://gpu:8000/v1",
            "DISSENT_MINING__CHANNELS": "[bm25, dense]",
        },
    )
    assert cfg.annotation.tiers[2].base_url == "http://gpu:8000/v1"
    assert cfg.mining.channels == ["bm25", "dense"]


def test_unknown_key_in_file_names_key_and_allowed_keys(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("mining:\n  bm25:\n    k_1: 1.2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    message = str(info.value)
    assert "unknown key 'mining.bm25.k_1'" in message
    assert "allowed keys in mining.bm25: k1, b, use_description" in message


def test_unknown_section_and_unknown_env_key() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'minning'; allowed keys in the top level: workdir, precision, store, split",
    ):
        load_config(None, environ={"DISSENT_MINNING__TOP_K": "1"})


def test_bad_value_names_key_and_value(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("annotation:\n  tiers:\n    - {name: a, backend: gpt}\n")
    with pytest.raises(
        ConfigError,
        match=r"'annotation\.tiers\.0\.backend': Input should be 'cross_encoder'.*\(got 'gpt'\)",
    ):
        load_config(path, environ={})
    path.write_text("splits: {fractions: [0.5, 0.5, 0.5, 0.0]}\n")
    with pytest.raises(ConfigError, match="summing to 1"):
        load_config(path, environ={})


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", environ={})
    (tmp_path / "bad.yaml").write_text("mining: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml", environ={})


def test_dump_round_trips(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"DISSENT_MINING__TOP_K": "42"})
    path = tmp_path / "dump.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path, environ={}) == cfg


def test_shipped_configs_are_valid() -> None:
    from tests.conftest import ROOT

    for path in sorted((ROOT / "configs").glob("*.yaml")):
        if path.name == "homedepot.yaml":  # a dataset mapping, not a pipeline config
            continue
        load_config(path, environ={})


def _fields(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, FieldInfo]]:
    for name, field in model.model_fields.items():
        yield path + name, field
        for arg in _models(field.annotation):
            yield from _fields(arg, f"{path}{name}.")


def _models(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def test_every_key_is_explained() -> None:
    """Every key a user can set has a one-line description (``dissent config show --explain``)."""
    keys = dict(_fields(PipelineConfig))
    missing = sorted(k for k, f in keys.items() if not (f.description or "").strip())
    assert missing == []
    assert all("\n" not in (f.description or "") for f in keys.values())


def test_explain_shows_each_value_with_its_description() -> None:
    cfg = load_config(None, environ={"DISSENT_STORE__URL": "postgresql+psycopg://me:pw@db/x"})
    text = explain_config(cfg)
    assert "  top_k: 500  # results kept per channel and query" in text.splitlines()
    assert "pw" not in text and "***" in text
    assert yaml.safe_load(text)["mining"]["top_k"] == 500  # comments aside, still YAML
