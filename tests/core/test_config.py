"""The config machinery on a small model of its own: defaults, file, environment, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import Field

from core.config import Section, dump_model, explain_model, load_model, read_yaml
from core.errors import ConfigError


class Channel(Section):
    name: str = Field(default="bm25", description="which channel")
    weight: float = Field(default=1.0, gt=0, description="its weight")


class Root(Section):
    top_k: int = Field(default=10, ge=1, description="results kept per query")
    api_key_env: str | None = Field(default=None, description="variable holding the key")
    channels: list[Channel] = Field(
        default_factory=lambda: [Channel(), Channel(name="dense")], description="the channels"
    )
    dense: Channel = Field(default_factory=lambda: Channel(name="dense"), description="one")


def test_defaults_file_and_environment_in_that_order(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("top_k: 50\ndense: {weight: 2.0}\n")
    assert load_model(Root, environ={}).top_k == 10
    from_file = load_model(Root, path, environ={})
    assert (from_file.top_k, from_file.dense.weight, from_file.dense.name) == (50, 2.0, "dense")
    both = load_model(Root, path, environ={"DISSENT_TOP_K": "7", "DISSENT_DENSE__NAME": "x"})
    assert (both.top_k, both.dense.weight, both.dense.name) == (7, 2.0, "x")


def test_environment_values_are_yaml_and_list_items_have_indexes() -> None:
    cfg = load_model(Root, environ={"DISSENT_CHANNELS__1__WEIGHT": "0.5"})
    assert [c.weight for c in cfg.channels] == [1.0, 0.5]
    replaced = load_model(Root, environ={"DISSENT_CHANNELS": "[{name: only}]"})
    assert [c.name for c in replaced.channels] == ["only"]  # a list replaces, never merges


def test_the_config_file_variable_and_keys_that_are_not_config() -> None:
    env = {"DISSENT_HOMEDEPOT_DIR": "/data", "DISSENT_TEST_POSTGRES_URL": "x", "HOME": "/root"}
    assert load_model(Root, environ=env) == Root()


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"DISSENT_TOPK": "1"}, "unknown key 'topk'; allowed keys in the top level: top_k"),
        ({"DISSENT_DENSE__WIDTH": "1"}, "allowed keys in dense: name, weight"),
        ({"DISSENT_TOP_K": "0"}, "'top_k': Input should be greater than or equal to 1 (got 0)"),
        ({"DISSENT_CHANNELS__5__NAME": "x"}, "index '5' is out of range"),
        ({"DISSENT_DENSE____NAME": "x"}, "empty key part"),
        ({"DISSENT_TOP_K": "[unclosed"}, "not a YAML value"),
    ],
)
def test_mistakes_name_the_key_and_what_is_allowed(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_model(Root, environ=environ)
    assert message in str(info.value)


def test_a_secret_put_where_a_variable_name_belongs_is_not_echoed() -> None:
    class Strict(Section):
        api_key_env: str | None = Field(default=None, pattern=r"^[A-Z_]+$")

    with pytest.raises(ConfigError) as info:
        load_model(Strict, environ={"DISSENT_API_KEY_ENV": "sk-live-123"})
    assert "sk-live-123" not in str(info.value) and "not shown" in str(info.value)


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "none.yaml", "config file")
    with pytest.raises(ConfigError, match="is a directory"):
        read_yaml(tmp_path, "config file")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("top_k: 5 # caf\xe9".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        read_yaml(bad, "config file")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_model(Root, tmp_path / "list.yaml", environ={})


def test_dump_and_explain_round_trip() -> None:
    cfg = load_model(Root, environ={"DISSENT_TOP_K": "3"})
    assert load_model(Root, environ={}).model_validate(yaml.safe_load(dump_model(cfg))) == cfg
    text = explain_model(cfg)
    assert text.splitlines()[:3] == [
        "top_k: 3  # results kept per query",
        "api_key_env: null  # variable holding the key",
        "channels:  # the channels",
    ]
    assert "  - name: bm25  # which channel" in text.splitlines()
    assert Root.model_validate(yaml.safe_load(text)) == cfg
