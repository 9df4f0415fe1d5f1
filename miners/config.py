"""The ``mining`` section: channels, their settings and the disagreement-set cut-offs.

Which channel names are valid is the channel contract's to say (:data:`miners.base.ChannelName`).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, model_validator

from core.config import Section
from core.encoder import Runtime
from core.precision import Precision
from miners.base import ChannelName
from store.splits import SplitsConfig

__all__ = [
    "Bm25Config",
    "CatalogChannelConfig",
    "DenseConfig",
    "MiningConfig",
    "MiningSettings",
]


class Bm25Config(Section):
    """The BM25 channel (miners/bm25.py)."""

    k1: float = Field(default=1.5, ge=0, description="term-frequency saturation")
    b: float = Field(default=0.75, ge=0, le=1, description="document-length normalisation")
    use_description: bool = Field(default=True, description="index title + description")


class DenseConfig(Section):
    """The dense channel (miners/dense.py): the team's embedding model and its faiss index."""

    model: str | None = Field(
        default=None,
        description="sentence-transformers model path or name; default: packaged all-MiniLM-L6-v2",
    )
    index: Literal["flat", "ivf", "hnsw"] = Field(
        default="flat", description="faiss index: exact (flat), or IVF / HNSW for large catalogs"
    )
    nlist: int | None = Field(default=None, ge=1, description="IVF lists; default 4*sqrt(N)")
    nprobe: int = Field(default=16, ge=1, description="IVF lists searched per query")
    hnsw_m: int = Field(default=32, ge=4, description="HNSW links per node")
    ef_search: int = Field(default=128, ge=1, description="HNSW candidates kept while searching")
    truncate_dim: int | None = Field(default=None, ge=8, description="Matryoshka truncation")
    binary: bool = Field(default=False, description="sign-bit vectors, Hamming search")
    batch_size: int = Field(default=64, ge=1, description="products per encoder batch")
    runtime: Runtime = Field(
        default="auto",
        description=(
            "torch, or onnx-int8 (the same model in ONNX Runtime with int8 weights, exported "
            "once into ~/.cache/dissent/onnx); auto: torch where bfloat16 is native, else onnx-int8"
        ),
    )
    embeddings_path: Path | None = Field(
        default=None,
        description=(
            "precomputed product embeddings: Parquet with external_id + embedding columns, or "
            ".npy with a sibling <name>.ids.txt of external ids, one per row"
        ),
    )


class CatalogChannelConfig(Section):
    """The catalog channel (miners/catalog.py): field weights and search threads."""

    field_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "brand": 4.0,
            "product_type": 6.0,
            "attributes": 2.0,
            "title": 1.0,
        },
        description="full-text weight of each field (brand, product_type, attributes, title)",
    )
    search_workers: int = Field(
        default=2, ge=1, description="threads, each with its own connection, running queries"
    )

    @model_validator(mode="after")
    def _known_weights(self) -> CatalogChannelConfig:
        allowed = ("brand", "product_type", "attributes", "title")
        unknown = sorted(set(self.field_weights) - set(allowed))
        if unknown or any(w <= 0 for w in self.field_weights.values()):
            raise ValueError(
                f"field_weights must map some of {', '.join(allowed)} to positive numbers, "
                f"got {self.field_weights}"
            )
        return self


class MiningConfig(Section):
    """Retrieval channels and the disagreement-set cut-offs (DESIGN.md, "Mining")."""

    channels: list[ChannelName] = Field(
        default_factory=lambda: list(typing.get_args(ChannelName)),
        description="the retrieval channels to run (bm25, dense, catalog)",
    )
    top_k: int = Field(default=500, ge=1, description="results kept per channel and query")
    easy_positive_k: int = Field(
        default=500, ge=1, description="easy positives: in every channel's top this many"
    )
    hard_positive_k: int = Field(
        default=50, ge=1, description="hard positives: in a lexical channel's top this many"
    )
    hard_negative_k: int = Field(
        default=100, ge=1, description="hard negatives: in exactly one channel's top this many"
    )
    token_negatives: int = Field(
        default=5, ge=0, description="TF-IDF-similar products no channel retrieved, per query"
    )
    random_negatives: int = Field(default=5, ge=0, description="random products, per query")
    include_evaluation_queries: bool = Field(
        default=False,
        description="also mine the queries held out for retrieval evaluation (store.splits)",
    )
    seed: int = Field(default=0, description="seeds the sampled negatives")
    bm25: Bm25Config = Field(default_factory=Bm25Config, description="the bm25 channel")
    dense: DenseConfig = Field(
        default_factory=DenseConfig, description="the dense channel (the team's embedding model)"
    )
    catalog: CatalogChannelConfig = Field(
        default_factory=CatalogChannelConfig, description="the catalog's own lexical search"
    )


class MiningSettings(Protocol):
    """What mining reads of the pipeline configuration (``flows.config.PipelineConfig``)."""

    workdir: Path
    precision: Precision
    mining: MiningConfig
    splits: SplitsConfig
