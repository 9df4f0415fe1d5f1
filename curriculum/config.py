"""The ``curriculum`` and ``export`` sections: levels, splits, augmentation and the export."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field

from core.config import Section
from store.splits import SplitsConfig

__all__ = [
    "RECIPES",
    "CurriculumConfig",
    "CurriculumSettings",
    "ExportConfig",
    "ExportSettings",
    "Recipe",
    "TrainConfig",
    "TrainSettings",
]


class CurriculumConfig(Section):
    """Levels, stages, splits and augmentation (DESIGN.md, "Curriculum")."""

    relevance_cutoff: int = Field(default=2, ge=1, le=3, description="grade >= this is relevant")
    validation_fraction: float = Field(
        default=0.1, ge=0, lt=1, description="share of queries held out, by a seeded hash"
    )
    split_by_product: bool = Field(
        default=False,
        description=(
            "also split products: drop examples whose products cross the split (a pair example "
            "survives validation only when both products fall there: expect a small validation)"
        ),
    )
    typo_rate: float = Field(
        default=0.15, ge=0, le=1, description="share of train queries given a noisy copy"
    )
    negatives_per_positive: int = Field(default=1, ge=1, description="stages 2 and 3")
    use_description: bool = Field(
        default=True, description="product text is title + description (as the dense channel)"
    )
    seed: int = 0


class ExportConfig(Section):
    output_dir: Path | None = Field(default=None, description="default: `workdir`/export")
    push_to_hub: str | None = None


Recipe = Literal[
    "human",
    "mixed",
    "staged",
    "human+staged",
    "human+staged-inbatch",
    "human+mixed",
    "human-hardneg",
    "human-hardneg-masked",
    "staged-inbatch",
    "staged-masked",
    "staged+graded",
]
RECIPES: tuple[Recipe, ...] = typing.get_args(Recipe)


class TrainConfig(Section):
    """The ``train`` section: ``dissent train`` (curriculum.train) and ``dissent evaluate``."""

    base_model: str | None = Field(
        default=None, description="the two-tower model to start from; default packaged MiniLM"
    )
    recipes: list[Recipe] = Field(default_factory=lambda: list(RECIPES), min_length=1)
    epochs: int = Field(default=1, ge=1, description="epochs per stage")
    batch_size: int = Field(default=64, ge=2)
    learning_rate: float = Field(default=2e-5, gt=0)
    max_length: int = Field(default=64, ge=8, description="tokens per query or product text")
    triplet_margin: float = Field(
        default=0.1,
        gt=0,
        le=2,
        description="stage 3 (Triplet): by how much a positive's cosine must beat its negative's",
    )
    max_examples_per_stage: int | None = Field(default=None, ge=1, description="seeded sample")
    hard_negatives: int = Field(
        default=1,
        ge=1,
        description="`human-hardneg`: mined negatives per human pair (fewer where a query has fewer)",
    )
    seed: int = 0
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="auto: bfloat16 autocast on CPUs with AMX or AVX512-BF16"
    )
    output_dir: Path | None = Field(default=None, description="default: `workdir`/models")
    eval_top_k: int = Field(default=100, ge=10, description="retrieved per evaluation query")


class TrainSettings(Protocol):
    """What training and evaluation read of the pipeline configuration."""

    workdir: Path
    curriculum: CurriculumConfig
    export: ExportConfig
    splits: SplitsConfig
    train: TrainConfig


class CurriculumSettings(Protocol):
    """What a curriculum build reads of the pipeline configuration."""

    curriculum: CurriculumConfig
    splits: SplitsConfig


class ExportSettings(Protocol):
    """What an export reads of the pipeline configuration."""

    workdir: Path
    curriculum: CurriculumConfig
    export: ExportConfig
