"""The ``curriculum`` and ``export`` sections: levels, splits, augmentation and the export."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import Field

from core.config import Section
from store.splits import SplitsConfig

__all__ = [
    "CurriculumConfig",
    "CurriculumSettings",
    "ExportConfig",
    "ExportSettings",
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
    negatives_per_positive: int = Field(
        default=1, ge=1, description="negatives paired with each positive in stages 2 and 3"
    )
    use_description: bool = Field(
        default=True, description="product text is title + description (as the dense channel)"
    )
    seed: int = Field(default=0, description="seeds the validation split and augmentation")


class ExportConfig(Section):
    """The ``export`` section: where ``dissent export`` writes the datasets."""

    output_dir: Path | None = Field(default=None, description="default: `workdir`/export")
    push_to_hub: str | None = Field(
        default=None, description="also push to this Hugging Face dataset repo (needs a token)"
    )


class CurriculumSettings(Protocol):
    """What a curriculum build reads of the pipeline configuration."""

    curriculum: CurriculumConfig
    splits: SplitsConfig


class ExportSettings(Protocol):
    """What an export reads of the pipeline configuration."""

    workdir: Path
    curriculum: CurriculumConfig
    export: ExportConfig
