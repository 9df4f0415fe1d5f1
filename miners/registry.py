"""Channel names and construction: the one place that knows every channel."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from core.errors import ConfigError
from miners.base import CHANNELS, Channel, ChannelName
from miners.config import MiningConfig

__all__ = ["CHANNELS", "ChannelName", "build_channel"]


def build_channel(
    name: str,
    config: MiningConfig,
    *,
    engine: Engine | None = None,
    cache_dir: Path | None = None,
    precision: str = "auto",
    options: Mapping[str, Any] | None = None,
) -> Channel:
    """A new, unindexed channel.

    Args:
        name: one of :data:`CHANNELS`.
        config: the mining section (each channel reads its own sub-section).
        engine: the store; the catalog channel keeps its full-text index there.
        cache_dir: where the dense channel caches product embeddings.
        precision: the dense encoder's precision (:func:`core.precision.resolve_precision`).
        options: keyword arguments for the channel's constructor beyond its config section
            (experiments, e.g. the catalog channel's ``title_search``).

    Raises:
        ConfigError: unknown name, the catalog channel without a store, or an option the
            channel does not take.
    """
    extra = dict(options or {})
    try:
        return _build(name, config, engine, cache_dir, precision, extra)
    except TypeError as exc:
        if not extra:
            raise
        raise ConfigError(f"channel {name!r} does not take the options {sorted(extra)}") from exc


def _build(
    name: str,
    config: MiningConfig,
    engine: Engine | None,
    cache_dir: Path | None,
    precision: str,
    extra: dict[str, Any],
) -> Channel:
    if name == "bm25":
        from miners.bm25 import Bm25Channel

        return Bm25Channel(config.bm25, **extra)
    if name == "dense":
        from core.encoder import Encoder
        from miners.dense import DenseChannel

        dense = config.dense
        encoder = Encoder(dense.model, dense.batch_size, precision=precision, runtime=dense.runtime)
        return DenseChannel(dense, cache_dir=cache_dir, encoder=encoder, **extra)
    if name == "catalog":
        if engine is None:
            raise ConfigError(
                "the catalog channel needs a store engine (its full-text index lives there)"
            )
        from miners.catalog import CatalogChannel

        return CatalogChannel(config.catalog, engine, **extra)
    raise ConfigError(f"unknown channel {name!r}; choose from {', '.join(CHANNELS)}")
