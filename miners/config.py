"""The ``mining`` section: channels, their settings and the disagreement-set cut-offs.

Which channel names are valid is the channel registry's to say (:data:`miners.registry.ChannelName`).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, model_validator

from core.config import Section
from miners.registry import ChannelName
from store.splits import SplitsConfig

__all__ = [
    "Bm25Config",
    "CatalogChannelConfig",
    "DenseConfig",
    "MiningConfig",
    "MiningSettings",
]


class Bm25Config(Section):
    engine: Literal["bm25s", "rank_bm25"] = "bm25s"
    k1: float = 1.5
    b: float = 0.75
    use_description: bool = True


class DenseConfig(Section):
    model: str | None = Field(
        default=None,
        description="sentence-transformers model path or name; default: packaged all-MiniLM-L6-v2",
    )
    index: Literal["flat", "ivf", "hnsw"] = "flat"
    nlist: int | None = Field(default=None, ge=1, description="IVF lists; default 4*sqrt(N)")
    nprobe: int = Field(default=16, ge=1, description="IVF lists searched per query")
    hnsw_m: int = Field(default=32, ge=4)
    ef_search: int = Field(default=128, ge=1)
    truncate_dim: int | None = Field(default=None, ge=8, description="Matryoshka truncation")
    binary: bool = Field(default=False, description="sign-bit vectors, Hamming search")
    batch_size: int = Field(default=64, ge=1)
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto",
        description=(
            "encoder matmul precision; auto: bfloat16 on CPUs with AMX or AVX512-BF16 "
            "(same embeddings to cosine 0.9999, 2x faster), else float32"
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
    """The catalog channel: its term dictionary (miners/lexicon.py) and field weights."""

    field_weights: dict[str, float] = Field(
        default_factory=lambda: {"brand": 4.0, "product_type": 6.0, "attributes": 2.0, "title": 1.0}
    )
    structured_min_share: float = Field(
        default=0.5, ge=0, le=1, description="share of products with a field to use it as is"
    )
    min_brand_count: int = Field(default=3, ge=1, description="titles a derived brand starts")
    max_brand_tokens: int = Field(default=3, ge=1)
    brand_extend_ratio: float = Field(
        default=0.3, ge=0, le=1, description="share of titles a longer brand prefix must keep"
    )
    brand_min_start_share: float = Field(
        default=0.5, ge=0, le=1, description="share of a brand's occurrences that start a title"
    )
    min_type_count: int = Field(default=3, ge=1, description="titles a derived type ends")
    max_type_tokens: int = Field(default=3, ge=1)
    max_attribute_tokens: int = Field(default=3, ge=1, description="longer values are skipped")
    search_workers: int = Field(
        default=2, ge=1, description="threads, each with its own connection, running queries"
    )
    title_search: Literal["always", "unrecognised", "never", "trigrams"] = Field(
        default="trigrams",
        description=(
            "when the query's words are also searched in titles: always (ranked after products "
            "that match recognised fields), only for queries with no recognised catalog term, "
            "never (a pure field-matching catalog: a query it does not understand finds "
            "nothing), or trigrams (as never, then the empty slots filled by a spelling-tolerant "
            "character-trigram search of titles: miners/trigrams.py)"
        ),
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

    channels: list[ChannelName] = Field(default_factory=lambda: list(typing.get_args(ChannelName)))
    top_k: int = Field(default=500, ge=1, description="results kept per channel and query")
    easy_positive_k: int = Field(default=500, ge=1)
    hard_positive_k: int = Field(default=50, ge=1)
    hard_negative_k: int = Field(default=100, ge=1)
    token_negatives: int = Field(default=5, ge=0, description="per query")
    random_negatives: int = Field(default=5, ge=0, description="per query")
    query_batch_size: int = Field(default=256, ge=1)
    include_evaluation_queries: bool = Field(
        default=False,
        description="also mine the queries held out for retrieval evaluation (store.splits)",
    )
    seed: int = 0
    bm25: Bm25Config = Field(default_factory=Bm25Config)
    dense: DenseConfig = Field(default_factory=DenseConfig)
    catalog: CatalogChannelConfig = Field(default_factory=CatalogChannelConfig)


class MiningSettings(Protocol):
    """What mining reads of the pipeline configuration (``flows.config.PipelineConfig``)."""

    workdir: Path
    mining: MiningConfig
    splits: SplitsConfig
