"""The ``annotation`` section: the cascade's tiers, splits, budget and tier-1 training.

A tier (:class:`TierConfig`) is a backend's endpoint settings
(:class:`annotator.backends.base.EndpointSettings`: the backend names are
:data:`~annotator.backends.base.BackendName`) plus what the cascade needs to know of it: its
cost, the subsample a slow tier calibrates on, and how Dissent trains it. What a backend can
do (be trained) is asked of the registry (:func:`annotator.backends.registry.backend_class`).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, model_validator

from annotator.backends.base import EndpointSettings
from annotator.backends.registry import backend_class
from annotator.decision import Objective
from annotator.sampling import SampleConfig
from core.config import Section
from core.precision import Precision
from store.splits import SplitsConfig

__all__ = ["AnnotationConfig", "AnnotatorSettings", "LoraSettings", "Tier1Training", "TierConfig"]


ProductField = Literal["title", "brand", "product_type", "attributes", "description"]


class LoraSettings(Section):
    """Low-rank adapters (peft LoRA): train these and the grade head, not the whole model.

    For models too big to fine-tune whole on a CPU (Gemma 3 270M and up). The adapters are
    merged into the weights when the model is saved, so the tier loads like any other.
    """

    r: int = Field(default=16, ge=1, description="rank of the adapters")
    alpha: int = Field(default=32, ge=1, description="scale: the update is alpha / r times BA")
    dropout: float = Field(default=0.05, ge=0, lt=1, description="dropout on the adapters' input")
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        description="module names that get adapters (default: a decoder's attention projections)",
    )


class Tier1Training(Section):
    """How ``dissent annotate train-tier`` fine-tunes a trainable tier (:mod:`annotator.trainer`).

    ``annotation.tier1_training`` trains the first cross-encoder tier; a tier's own
    ``training`` overrides it for that tier.
    """

    base_model: str | None = Field(
        default=None,
        description=(
            "what to fine-tune: unset = packaged MiniLM; gemma3-270m; a .gguf file; a model folder"
        ),
    )
    lora: LoraSettings | None = Field(
        default=None, description="train LoRA adapters and the head instead of the whole model"
    )
    max_pairs: int | None = Field(
        default=None,
        ge=1,
        description="train on at most this many pairs, whole queries in a seeded order (slow models)",
    )
    epochs: int = Field(
        default=3, ge=1, description="at most; the best on the dev slice is kept (else the last)"
    )
    learning_rate: float = Field(default=5e-5, gt=0, description="AdamW's peak learning rate")
    batch_size: int = Field(default=32, ge=1, description="examples per optimizer step")
    seed: int = Field(
        default=0, description="draws the dev slice, negatives, copies, batches and the head"
    )
    dev_fraction: float = Field(
        default=0.1, ge=0, lt=1, description="tier-training queries held out to choose the epoch"
    )
    min_dev_pairs: int = Field(
        default=200,
        ge=0,
        description="a smaller dev slice trains too and the last epoch is kept (no combiner)",
    )
    negative_share: float = Field(
        default=0.2, ge=0, description="random catalog products labelled Irrelevant, per pair"
    )
    injected_share: float = Field(
        default=0.05, ge=0, le=1, description="pairs copied with an injected instruction"
    )
    boilerplate_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="pairs copied with seller boilerplate appended (claims, shipping), same grade",
    )
    ordinal_weight: float = Field(
        default=0.5, ge=0, description="weight of the expected-grade squared error in the loss"
    )
    fields: list[ProductField] = Field(
        default_factory=lambda: list(typing.get_args(ProductField)),
        min_length=1,
        description="product fields the model reads, in order",
    )
    description_chars: int = Field(default=300, ge=0, description="description truncated here")
    max_length: int = Field(default=128, ge=16, description="tokens of query + product")


class TierConfig(EndpointSettings):
    """One cascade tier: a backend, the model it serves, how to call it, and what it costs."""

    cost_weight: float | None = Field(
        default=None, ge=0, description="relative cost per call; measured seconds if unset"
    )
    max_eval_pairs: int | None = Field(
        default=None,
        ge=1,
        description="calibrate and test on a seeded subsample of this many pairs per split (slow)",
    )
    training: Tier1Training | None = Field(
        default=None,
        description="how train-tier trains this tier (trainable tiers only); unset: tier1_training",
    )

    @model_validator(mode="after")
    def _training_needs_a_trainable_backend(self) -> TierConfig:
        if self.training is not None and not backend_class(self).trainable:
            raise ValueError(
                f"tier {self.name!r}: only cross_encoder tiers are trained by Dissent; remove "
                f"`training` or set backend: cross_encoder"
            )
        return self


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(name="cross-encoder", backend="cross_encoder"),
        # The offline LLM tiers are slow on a CPU: they calibrate, test and run the sanity
        # checks on a seeded subsample.
        TierConfig(name="gemma-270m", backend="llama_cpp", max_eval_pairs=400),
        # No base_url: Dissent serves the packaged GGUF on a local llama.cpp server. Its server
        # takes a schema in json_object and drops system messages for Gemma; without logprobs
        # (slow to compute there) the distribution comes from one greedy answer.
        TierConfig(
            name="gemma-270m-server",
            backend="openai_compatible",
            structured_output="json_object_schema",
            system_role=False,
            logprobs=False,
            samples=1,
            max_eval_pairs=100,
        ),
    ]


class AnnotationConfig(Section):
    """The cascade (DESIGN.md, "Cascade")."""

    tiers: list[TierConfig] = Field(
        default_factory=_default_tiers, min_length=1, description="the tiers, cheapest first"
    )
    objective: Objective = Field(
        default="qwk",
        description="what the cascade optimises: qwk, exact or within_one (annotator.decision)",
    )
    cost_budget: float = Field(
        default=0.5, gt=0, description="cascade compute as a share of the top tier alone"
    )
    cv_folds: int = Field(
        default=5, ge=2, description="folds (by query) of the calibration split for the route"
    )
    min_qwk: float | None = Field(default=None, description="agreement gate on the test split")
    calibration_random_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="random products labelled Irrelevant added to calibration, per calibration pair",
    )
    random_pairs: int = Field(
        default=200,
        ge=0,
        description="random catalog products for test queries, graded as a sanity check",
    )
    max_random_relevant: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="agreement gate: the largest share of random products graded relevant (>= 2)",
    )
    label_source: str | None = Field(
        default=None, description="use human labels of this source only"
    )
    batch_size: int = Field(
        default=64, ge=1, description="pairs per cascade batch (one transaction)"
    )
    injection_pairs: int = Field(
        default=20, ge=0, description="test pairs attacked with injected instructions in the report"
    )
    tier1_training: Tier1Training = Field(
        default_factory=Tier1Training, description="how trainable tiers train (unless their own)"
    )
    sample: SampleConfig = Field(
        default_factory=SampleConfig, description="spread a budget of pairs over many queries"
    )

    @model_validator(mode="after")
    def _one_default_model_folder(self) -> AnnotationConfig:
        unset = [t.name for t in self.tiers if backend_class(t).trainable and not t.model]
        if len(unset) > 1:
            raise ValueError(
                f"cross_encoder tiers {unset} would share the default model folder: set `model` "
                "(where `dissent annotate train-tier` saves it) on all but one"
            )
        return self


class AnnotatorSettings(Protocol):
    """What the annotator reads of the pipeline configuration (``flows.config.PipelineConfig``)."""

    workdir: Path
    precision: Precision
    annotation: AnnotationConfig
    splits: SplitsConfig
