from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from flows.config import PipelineConfig, dump_config, load_config


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
    path.write_text(
        "mining:\n  top_k: 200\n  bm25: {engine: rank_bm25}\nstore: {url: 'sqlite:///x.db'}\n"
    )
    cfg = load_config(
        path, environ={"DISSENT_MINING__TOP_K": "100", "DISSENT_CURRICULUM__TYPO_RATE": "0.3"}
    )
    assert cfg.mining.top_k == 100  # the environment wins over the file
    assert cfg.mining.bm25.engine == "rank_bm25"  # the file wins over the defaults
    assert cfg.mining.bm25.k1 == 1.5  # untouched keys keep their defaults
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
    assert "allowed keys in mining.bm25: engine, k1, b, use_description" in message


def test_unknown_section_and_unknown_env_key() -> None:
    with pytest.raises(
        ConfigError,
        match="unknown key 'minning'; allowed keys in the top level: workdir, store, splits, mining",
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
