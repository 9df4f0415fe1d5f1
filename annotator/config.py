"""The ``annotation`` section: the cascade's tiers, splits, budget and tier-1 training.

Which backend names are valid is the backend registry's to say
(:data:`annotator.backends.registry.BackendName`).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, model_validator

from annotator.backends.registry import BackendName
from annotator.decision import Objective
from annotator.sampling import SampleConfig
from annotator.signals import Signal
from core.config import Section
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
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        min_length=1,
        description="module names that get adapters (default: a decoder's attention projections)",
    )


class Tier1Training(Section):
    """How ``dissent annotate train-tier`` fine-tunes a ``cross_encoder`` tier (``annotator.tier1``).

    ``annotation.tier1_training`` trains the first cross-encoder tier; a tier's own
    ``training`` overrides it for that tier.
    """

    base_model: str | None = Field(
        default=None,
        description=(
            "what to fine-tune: unset = the packaged all-MiniLM-L6-v2; `gemma3-270m` = the "
            "packaged Gemma 3 270M GGUF; a `.gguf` file (loaded through transformers, needs "
            "`gguf`); or a saved Hugging Face model folder"
        ),
    )
    lora: LoraSettings | None = Field(
        default=None, description="train LoRA adapters and the head instead of the whole model"
    )
    max_pairs: int | None = Field(
        default=None,
        ge=1,
        description=(
            "train on at most this many tier-training pairs, whole queries in a seeded order "
            "(for slow models); unset: all of them"
        ),
    )

    epochs: int = Field(
        default=3,
        ge=1,
        description="at most; the best on the dev slice is kept (the last without one)",
    )
    learning_rate: float = Field(default=5e-5, gt=0)
    batch_size: int = Field(default=32, ge=1)
    seed: int = 0
    dev_fraction: float = Field(
        default=0.1, ge=0, lt=1, description="tier-training queries held out to choose the epoch"
    )
    # 200: on the shipped sample (167 tier-training pairs) a 10-pair slice kept epoch 2 for one
    # seed (90% of random products graded relevant, test QWK 0.12), and slices of 10-50 pairs
    # left the sample's gate failing for two seeds of four; without a slice, ten epochs passed it
    # for all four (python -m bench.sample_seeds).
    min_dev_pairs: int = Field(
        default=200,
        ge=0,
        description=(
            "a dev slice with fewer pairs cannot choose the epoch: its queries train too and the "
            "last epoch is kept (a folded slice also fits no combiner: lower this with "
            "`combiner_min_pairs`)"
        ),
    )
    negative_share: float = Field(
        default=0.2, ge=0, description="random catalog products labelled Irrelevant, per pair"
    )
    injected_share: float = Field(
        default=0.05, ge=0, le=1, description="pairs copied with an injected instruction"
    )
    # 0.1 chosen on the calibration split (python -m bench.flips): appended attacks flipped 13%
    # of grades without these copies, 8.3% with 0.1 and 8.0% with 0.3; dev QWK 0.484, 0.486, 0.482
    boilerplate_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="pairs copied with seller boilerplate appended (claims, shipping), same grade",
    )
    ordinal_weight: float = Field(
        default=0.5, ge=0, description="weight of the expected-grade squared error in the loss"
    )
    # Off by default. Home Depot, all 26,621 tier-training pairs, one epoch, bf16 (README, "A
    # consistency term"): against a control that puts the clean twins in the batch at weight
    # 1e-9, weight 0.25 / 0.5 kept dev QWK (0.472 / 0.473 against 0.472; weight 0 itself 0.486,
    # a different trajectory) and cut calibration attack flips from 9.7% to 6.4% / 6.9%. But on
    # the shipped sample (167 training pairs, no dev slice, negative_share 0.2 as it then was)
    # 0.25 failed the sample's 25% gate on random products for two seeds of four, where 0 passed
    # all four, and graded more random products relevant for every seed (python -m
    # bench.sample_seeds): not the default.
    consistency_weight: float = Field(
        default=0.0,
        ge=0,
        description=(
            "weight of the squared difference between each injected or boilerplate copy's "
            "expected grade and its clean product's (held fixed), both in the same batch; 0: off"
        ),
    )
    signals: list[Signal] = Field(
        default_factory=lambda: list(typing.get_args(Signal)),
        description=(
            "channel signals combined with the model's answer by a regression fitted on the dev "
            "slice (annotator.combiner), kept only if it beats the model alone there; [] = none"
        ),
    )
    dense_model: str | None = Field(
        default=None, description="the dense signal's sentence-transformers model (unset: MiniLM)"
    )
    combiner_min_pairs: int = Field(
        default=200, ge=10, description="dev pairs needed to fit the combiner"
    )
    # 0.01: on Home Depot the combiner added 0.046 test QWK to a tier 1 trained on 3,000 pairs
    # (dev gain 0.030) and nothing to one trained on 26,621 (dev gain 0.002), while its signals
    # nearly double the tier's grading time on a CPU
    combiner_min_gain: float = Field(
        default=0.01,
        ge=0,
        description="cross-validated dev-slice QWK the combiner must add to be kept",
    )
    fields: list[ProductField] = Field(
        default_factory=lambda: list(typing.get_args(ProductField)),
        min_length=1,
        description="product fields the model reads, in order",
    )
    description_chars: int = Field(default=300, ge=0, description="description truncated here")
    max_length: int = Field(default=128, ge=16, description="tokens of query + product")
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="auto: bfloat16 autocast on CPUs with AMX or AVX512-BF16"
    )


class TierConfig(Section):
    """One cascade tier: a backend, the model it serves, and how to call it."""

    name: str
    backend: BackendName
    model: str | None = Field(default=None, description="model path/name; backend default if unset")
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$",
        description="name of the environment variable holding the API key (never the key)",
    )
    max_concurrency: int = Field(default=4, ge=1)
    timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="seconds to connect or between bytes of an answer; a whole request is cut "
        "at three times this",
    )
    max_retries: int = Field(default=3, ge=0)
    samples: int = Field(default=5, ge=1, description="samples when the server gives no logprobs")
    structured_output: Literal["json_schema", "json_object_schema", "vllm", "none"] = Field(
        default="json_schema",
        description=(
            "how to ask an OpenAI-compatible server for JSON: OpenAI's json_schema; "
            "llama-cpp-python's json_object with a schema; vLLM >= 0.12 structured_outputs"
        ),
    )
    logprobs: bool = Field(default=True, description="ask for logprobs (else sample)")
    system_role: bool = Field(
        default=True, description="send the rubric as a system message (False: prepend to user)"
    )
    cost_weight: float | None = Field(
        default=None, ge=0, description="relative cost per call; measured seconds if unset"
    )
    max_eval_pairs: int | None = Field(
        default=None,
        ge=1,
        description=(
            "calibrate and test this tier on a seeded subsample of at most this many pairs per "
            "split (whole queries): for slow tiers; the report gives n per tier"
        ),
    )
    training: Tier1Training | None = Field(
        default=None,
        description=(
            "how `dissent annotate train-tier` trains this tier (cross_encoder tiers only); "
            "unset: annotation.tier1_training"
        ),
    )

    @model_validator(mode="after")
    def _training_needs_a_trainable_backend(self) -> TierConfig:
        if self.training is not None and self.backend != "cross_encoder":
            raise ValueError(
                f"tier {self.name!r}: only cross_encoder tiers are trained by Dissent; remove "
                f"`training` or set backend: cross_encoder"
            )
        return self


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(name="cross-encoder", backend="cross_encoder"),
        # The offline LLM tiers are slow on a CPU (0.15 s and 0.7 s a pair on 2 cores): they
        # calibrate, test and run the sanity checks on a seeded subsample.
        TierConfig(name="gemma-270m", backend="llama_cpp", max_eval_pairs=400),
        # No base_url: Dissent serves the packaged GGUF on a local llama.cpp server. Its server
        # takes a schema in json_object and drops system messages for Gemma; without logprobs
        # (which cost it 4 s a call) the distribution comes from one greedy answer.
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

    tiers: list[TierConfig] = Field(default_factory=_default_tiers, min_length=1)
    objective: Objective = Field(
        default="qwk",
        description="what the cascade optimises: qwk (expected grade at fitted cutpoints), exact "
        "or within_one agreement (annotator.decision)",
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
        description=(
            "random catalog products for calibration queries, labelled Irrelevant, added to the "
            "calibration split (a share of its pairs): the maps and cutpoints see unrelated "
            "products, as annotation will"
        ),
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
    max_pairs_per_split: int | None = Field(
        default=None,
        ge=1,
        description="calibrate and evaluate on at most this many pairs per split (whole queries)",
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
    tier1_training: Tier1Training = Field(default_factory=Tier1Training)
    sample: SampleConfig = Field(
        default_factory=SampleConfig, description="spread a budget of pairs over many queries"
    )

    @model_validator(mode="after")
    def _one_default_model_folder(self) -> AnnotationConfig:
        unset = [t.name for t in self.tiers if t.backend == "cross_encoder" and not t.model]
        if len(unset) > 1:
            raise ValueError(
                f"cross_encoder tiers {unset} would share the default model folder: set `model` "
                "(where `dissent annotate train-tier` saves it) on all but one"
            )
        return self


class AnnotatorSettings(Protocol):
    """What the annotator reads of the pipeline configuration (``flows.config.PipelineConfig``)."""

    workdir: Path
    annotation: AnnotationConfig
    splits: SplitsConfig
