"""The pipeline configuration: one YAML file, typed sections, ``DISSENT_*`` overrides.

Every section is a pydantic model with ``extra="forbid"``, so a misspelt key is an error that
names the key and the keys allowed there. Values come from, in increasing priority:

1. the defaults embedded here (``dissent config show`` with no file prints them);
2. the YAML file given with ``--config`` (or named by ``DISSENT_CONFIG``);
3. environment variables ``DISSENT_<SECTION>__<KEY>[__<KEY>...]``, read only in
   :func:`load_config`. Values are parsed as YAML scalars, so ``DISSENT_MINING__TOP_K=200``
   is an int and ``DISSENT_MINING__CHANNELS='[bm25, dense]'`` a list. List items are
   addressed by index: ``DISSENT_ANNOTATION__TIERS__2__BASE_URL=http://gpu:8000/v1``.

Secrets never live here: a tier names the environment variable that holds its API key
(``api_key_env``), and the key itself is read when the backend is built.

Example:
    >>> cfg = load_config(Path("configs/demo.yaml"), environ={"DISSENT_MINING__TOP_K": "100"})
    >>> cfg.mining.top_k
    100
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.errors import ConfigError

__all__ = [
    "ENV_PREFIX",
    "AnnotationConfig",
    "CurriculumConfig",
    "ExportConfig",
    "MiningConfig",
    "PipelineConfig",
    "StoreConfig",
    "TierConfig",
    "dump_config",
    "load_config",
]

ENV_PREFIX = "DISSENT_"
# Variables with the prefix that are not config keys (tests' own settings start DISSENT_TEST_).
_NOT_CONFIG_KEYS = {"DISSENT_CONFIG", "DISSENT_HOMEDEPOT_DIR"}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


ChannelName = Literal["bm25", "dense", "catalog"]
BackendName = Literal["cross_encoder", "llama_cpp", "openai_compatible", "vllm", "scripted"]


class StoreConfig(Section):
    """Where the state lives."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default: a SQLite file `dissent.db` in `workdir`.",
    )


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
    seed: int = 0
    bm25: Bm25Config = Field(default_factory=Bm25Config)
    dense: DenseConfig = Field(default_factory=DenseConfig)
    catalog: CatalogChannelConfig = Field(default_factory=CatalogChannelConfig)


class TierConfig(Section):
    """One cascade tier: a backend, the model it serves, and how to call it."""

    name: str
    backend: BackendName
    model: str | None = Field(default=None, description="model path/name; backend default if unset")
    base_url: str | None = None
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding the API key"
    )
    max_concurrency: int = Field(default=4, ge=1)
    timeout_s: float = Field(default=60.0, gt=0)
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


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(name="cross-encoder", backend="cross_encoder"),
        TierConfig(name="gemma-270m", backend="llama_cpp"),
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
        ),
    ]


class Tier1Training(Section):
    """How ``dissent annotate train-tier1`` fine-tunes the cross-encoder."""

    epochs: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=5e-5, gt=0)
    batch_size: int = Field(default=32, ge=1)
    seed: int = 0


class AnnotationConfig(Section):
    """The cascade (DESIGN.md, "Cascade")."""

    tiers: list[TierConfig] = Field(default_factory=_default_tiers, min_length=1)
    split_fractions: tuple[float, float, float] = Field(
        default=(0.5, 0.25, 0.25), description="tier-training, calibration, test (by query)"
    )
    cost_budget: float = Field(
        default=0.5, gt=0, description="cascade compute as a share of the top tier alone"
    )
    min_qwk: float | None = Field(default=None, description="agreement gate on the test split")
    split_seed: int = 0
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

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> AnnotationConfig:
        if abs(sum(self.split_fractions) - 1.0) > 1e-6 or min(self.split_fractions) < 0:
            raise ValueError(
                f"split_fractions must be three non-negative numbers summing to 1, "
                f"got {list(self.split_fractions)}"
            )
        return self


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


class FlowsConfig(Section):
    """How the Prefect flows run: task runner, fan-out size, retries."""

    task_runner: Literal["thread", "dask"] = Field(
        default="thread",
        description="thread: one process; dask: a Dask cluster (address, or a local one)",
    )
    dask_address: str | None = Field(
        default=None, description="scheduler address (tcp://host:8786); unset: a LocalCluster"
    )
    dask_workers: int = Field(default=2, ge=1, description="workers of the local Dask cluster")
    max_workers: int = Field(default=2, ge=1, description="threads of the thread task runner")
    queries_per_batch: int = Field(default=50, ge=1, description="annotation fan-out unit")
    retries: int = Field(default=2, ge=0, description="retries of model and network tasks")
    retry_delay_s: float = Field(default=10.0, ge=0, description="first back-off; doubles")


class PipelineConfig(Section):
    """The whole pipeline configuration."""

    workdir: Path = Field(default=Path("dissent-work"), description="outputs and the default store")
    store: StoreConfig = Field(default_factory=StoreConfig)
    mining: MiningConfig = Field(default_factory=MiningConfig)
    annotation: AnnotationConfig = Field(default_factory=AnnotationConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    flows: FlowsConfig = Field(default_factory=FlowsConfig)

    @property
    def store_url(self) -> str:
        """The effective store URL (the SQLite default lives in ``workdir``)."""
        return self.store.url or f"sqlite:///{self.workdir / 'dissent.db'}"


def _model_at(path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class found by walking ``path`` from PipelineConfig (None if not a model)."""
    model: Any = PipelineConfig
    for part in path:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        field = fields.get(part) if isinstance(fields, dict) else None
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """list[X] / X | None / tuple -> X, so that list items can be walked into."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _explain(exc: ValidationError, source: str) -> str:
    """One readable line for the first problem of a validation error."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    dotted = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        parent = loc[:-1]
        model = _model_at(parent)
        allowed = ", ".join(model.model_fields) if model else "?"
        where = ".".join(str(p) for p in parent) or "the top level"
        return f"{source}: unknown key '{dotted}'; allowed keys in {where}: {allowed}"
    return f"{source}: '{dotted}': {err['msg']} (got {err.get('input')!r})"


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = tree
    for i, part in enumerate(path):
        last = i == len(path) - 1
        key: str | int = int(part) if part.isdigit() else part
        if isinstance(node, list):
            if not isinstance(key, int) or key >= len(node):
                raise ConfigError(f"environment: index {part!r} is out of range in {path}")
            if last:
                node[key] = value
            else:
                node = node[key]
            continue
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})


def _env_overrides(environ: Mapping[str, str], tree: dict[str, Any]) -> list[str]:
    applied = []
    for name in sorted(environ):
        if (
            not name.startswith(ENV_PREFIX)
            or name in _NOT_CONFIG_KEYS
            or name.startswith("DISSENT_TEST_")
        ):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(
                f"environment variable {name}: empty key part; use DISSENT_SECTION__KEY"
            )
        try:
            value = yaml.safe_load(environ[name])
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment variable {name}: not a YAML value ({exc})") from exc
        _set_path(tree, path, value)
        applied.append(name)
    return applied


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> PipelineConfig:
    """Read the effective configuration.

    Args:
        path: a YAML file; ``None`` uses ``$DISSENT_CONFIG`` if set, else only the defaults.
        environ: the environment to read ``DISSENT_*`` overrides from (default ``os.environ``).

    Raises:
        ConfigError: the file is missing or not YAML, or a key or value is invalid; the
            message names the key and what is allowed.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get("DISSENT_CONFIG"):
        path = Path(env["DISSENT_CONFIG"])
    tree: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        source = str(path)
        try:
            loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} does not exist") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(
                f"config file {path}: expected a mapping of sections at the top level"
            )
        tree = loaded or {}
    # List overrides by index need the list to exist: start from the defaults' dump.
    base = PipelineConfig().model_dump(mode="json")
    merged = _deep_merge(base, tree)
    applied = _env_overrides(env, merged)
    if applied:
        source += " + environment (" + ", ".join(applied) + ")"
    try:
        return PipelineConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, source)) from exc


def _deep_merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) in ``over`` replaces ``base``."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _deep_merge(base[key], value) if key in base else value
        return out
    return over


def dump_config(config: PipelineConfig) -> str:
    """The configuration as YAML, as ``dissent config show`` prints it."""
    data = config.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
