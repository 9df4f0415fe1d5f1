"""Channel names and construction: the one place that knows every channel."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine

from core.errors import ConfigError
from miners.base import Channel

if TYPE_CHECKING:
    from miners.config import MiningConfig

__all__ = ["CHANNELS", "ChannelName", "build_channel"]

ChannelName = Literal["bm25", "dense", "catalog"]
"""The channels there are; ``mining.channels`` accepts these names."""
CHANNELS: tuple[str, ...] = typing.get_args(ChannelName)


def build_channel(
    name: str, config: MiningConfig, *, engine: Engine | None = None, cache_dir: Path | None = None
) -> Channel:
    """A new, unindexed channel.

    Args:
        name: one of :data:`CHANNELS`.
        config: the mining section (each channel reads its own sub-section).
        engine: the store; the catalog channel keeps its full-text index there.
        cache_dir: where the dense channel caches product embeddings.

    Raises:
        ConfigError: unknown name, or the catalog channel without a store.
    """
    if name == "bm25":
        from miners.bm25 import Bm25Channel

        return Bm25Channel(config.bm25)
    if name == "dense":
        from miners.dense import DenseChannel

        return DenseChannel(config.dense, cache_dir=cache_dir)
    if name == "catalog":
        if engine is None:
            raise ConfigError(
                "the catalog channel needs a store engine (its full-text index lives there)"
            )
        from miners.catalog import CatalogChannel

        return CatalogChannel(config.catalog, engine)
    raise ConfigError(f"unknown channel {name!r}; choose from {', '.join(CHANNELS)}")
