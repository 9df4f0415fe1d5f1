"""The ``train`` section (``dissent train`` and ``dissent evaluate``) and what the retriever
reads of the rest of the pipeline configuration.

The section holds what a user chooses: the model to start from, which recipes, how long and
how hard to train, where the models go. Experiment knobs live with the code that uses them
(the Triplet margin in :mod:`retriever.losses.registry`, the number of mined negatives per
human pair in :mod:`retriever.rows`, the evaluation depth in :mod:`retriever.evaluation`) and a
benchmark passes another value as a function argument. Precision is the pipeline's top-level
``precision`` key, shared by every torch model Dissent runs.

:class:`RetrieverSettings` is the part of :class:`flows.config.PipelineConfig` this package
reads, as a protocol, so that the package depends on no other stage's configuration.

Example:
    >>> TrainConfig().recipes
    ['human', 'mixed', 'staged']
    >>> TrainConfig(recipes=["staged-masked"])
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for TrainConfig
    ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import Field

from core.config import Section
from retriever.recipes import DEFAULT_RECIPES, RecipeName
from store.splits import SplitsConfig

__all__ = ["RetrieverSettings", "TrainConfig"]


class TrainConfig(Section):
    """The ``train`` section: how ``dissent train`` trains and where its models go."""

    base_model: str | None = Field(
        default=None,
        description="folder of the two-tower model every recipe starts from; default packaged MiniLM",
    )
    recipes: list[RecipeName] = Field(
        default_factory=lambda: list(DEFAULT_RECIPES),
        min_length=1,
        description="what `dissent train` trains when no --recipe is given",
    )
    epochs: int = Field(default=1, ge=1, description="passes over each stage's examples")
    batch_size: int = Field(default=64, ge=2, description="rows per step (in-batch negatives)")
    learning_rate: float = Field(default=2e-5, gt=0, description="AdamW's peak learning rate")
    max_length: int = Field(default=64, ge=8, description="tokens per query or product text")
    max_examples_per_stage: int | None = Field(
        default=None, ge=1, description="a seeded sample of each stage's examples; unset: all"
    )
    seed: int = Field(default=0, description="seeds sampling, shuffling and batching")
    output_dir: Path | None = Field(
        default=None, description="where trained models go; default `workdir`/models"
    )


class _CurriculumView(Protocol):
    """The two ``curriculum`` keys the retriever reads: what counts as relevant, product text."""

    @property
    def relevance_cutoff(self) -> int: ...

    @property
    def use_description(self) -> bool: ...


class _ExportView(Protocol):
    @property
    def output_dir(self) -> Path | None: ...


class RetrieverSettings(Protocol):
    """What training and evaluation read of the pipeline configuration."""

    @property
    def workdir(self) -> Path: ...

    @property
    def precision(self) -> str: ...

    @property
    def curriculum(self) -> _CurriculumView: ...

    @property
    def export(self) -> _ExportView: ...

    @property
    def splits(self) -> SplitsConfig: ...

    @property
    def train(self) -> TrainConfig: ...
