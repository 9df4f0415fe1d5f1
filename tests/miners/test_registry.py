"""The channel registry: every name builds its channel, unindexed; bad requests are ConfigErrors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.errors import ConfigError
from miners.base import Channel
from miners.config import Bm25Config, DenseConfig, MiningConfig
from miners.registry import CHANNELS, build_channel
from store.db import open_store


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 's.db'}")


def test_the_channel_names() -> None:
    assert CHANNELS == ("bm25", "dense", "catalog")


def test_bm25_is_built_from_its_section_unindexed() -> None:
    from miners.bm25 import Bm25Channel

    config = MiningConfig(bm25=Bm25Config(k1=1.2, b=0.5))
    channel = build_channel("bm25", config, options={"engine": "rank_bm25"})
    assert isinstance(channel, Bm25Channel) and isinstance(channel, Channel)
    assert channel.name == "bm25"
    assert channel.config is config.bm25
    assert (channel.config.k1, channel.config.b) == (1.2, 0.5)
    assert channel.engine_name == "rank_bm25"
    assert channel._ids.tolist() == []  # nothing indexed yet


def test_dense_is_built_without_loading_its_model(tmp_path: Path) -> None:
    from miners.dense import DenseChannel

    config = MiningConfig(dense=DenseConfig(model="/models/not-there"))
    channel = build_channel("dense", config, cache_dir=tmp_path / "cache", precision="float32")
    assert isinstance(channel, DenseChannel) and isinstance(channel, Channel)
    assert channel.name == "dense"
    assert channel.config is config.dense
    assert channel.cache_dir == tmp_path / "cache"
    # The model path is only remembered: a path that does not exist does not fail here.
    assert channel.encoder.model_path == "/models/not-there"
    assert channel.encoder.batch_size == 64 and channel.encoder.precision == "float32"
    assert channel.encoder._model is None
    assert channel._index is None


def test_dense_construction_does_not_import_sentence_transformers() -> None:
    # Only checkable when nothing imported it before in this process.
    if "sentence_transformers" in sys.modules:
        pytest.skip("sentence_transformers was already imported by another test")
    build_channel("dense", MiningConfig(dense=DenseConfig(model="/x")), precision="float32")
    assert "sentence_transformers" not in sys.modules


def test_catalog_is_built_on_the_store(store: Engine) -> None:
    from miners.catalog import CatalogChannel

    config = MiningConfig()
    channel = build_channel("catalog", config, engine=store)
    assert isinstance(channel, CatalogChannel) and isinstance(channel, Channel)
    assert channel.name == "catalog"
    assert channel.engine is store
    assert channel.lexicon is None  # not indexed
    # default weights, from the section
    assert channel.weights == {"brand": 4.0, "product_type": 6.0, "attributes": 2.0, "title": 1.0}


def test_catalog_without_a_store_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="the catalog channel needs a store engine"):
        build_channel("catalog", MiningConfig())


def test_an_unknown_channel_names_the_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        build_channel("splade", MiningConfig())
    assert str(info.value) == "unknown channel 'splade'; choose from bm25, dense, catalog"


def test_the_config_rejects_unknown_channel_names() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="splade"):
        MiningConfig(channels=["bm25", "splade"])  # type: ignore[list-item]


def test_an_option_a_channel_does_not_take_is_a_config_error(store: Engine) -> None:
    with pytest.raises(ConfigError, match=r"channel 'bm25' does not take the options \['depth'\]"):
        build_channel("bm25", MiningConfig(), options={"depth": 3})
    channel = build_channel(
        "catalog", MiningConfig(), engine=store, options={"title_search": "never"}
    )
    assert channel.title_search == "never"  # type: ignore[attr-defined]
