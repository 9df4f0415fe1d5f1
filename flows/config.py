"""The pipeline configuration: every stage's section in one YAML file, and the ``flows`` section.

:class:`PipelineConfig` composes the sections each stage owns (``store``, ``mining``,
``annotation``, ``curriculum``, ``export``) with ``flows`` (how the Prefect flows run).
:func:`load_config` reads it from the built-in defaults, a YAML file and ``DISSENT_*``
environment variables (:mod:`core.config` says how); ``dissent config show`` prints it.

Example:
    >>> cfg = load_config(Path("configs/sample.yaml"), environ={"DISSENT_MINING__TOP_K": "100"})
    >>> cfg.mining.top_k, cfg.mining.hard_positive_k
    (100, 10)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field

from annotator.config import AnnotationConfig
from core.config import Section, dump_model, explain_model, load_model
from core.paths import Workdir
from core.precision import Precision
from curriculum.config import CurriculumConfig, ExportConfig
from miners.config import MiningConfig
from retriever.config import TrainConfig
from review.config import ReviewConfig
from store.db import StoreConfig, display_url
from store.splits import SplitsConfig

__all__ = ["FlowsConfig", "PipelineConfig", "dump_config", "explain_config", "load_config"]


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
    precision: Precision = Field(
        default="auto",
        description=(
            "every torch model Dissent runs (encoders, tier training and grading, retrievers): "
            "auto = bfloat16 autocast where the CPU (AMX, AVX512-BF16) or GPU runs it natively"
        ),
    )
    store: StoreConfig = Field(default_factory=StoreConfig, description="where the state lives")
    splits: SplitsConfig = Field(
        default_factory=SplitsConfig, description="how human-labelled queries split four ways"
    )
    mining: MiningConfig = Field(
        default_factory=MiningConfig, description="retrieval channels and disagreement sets"
    )
    annotation: AnnotationConfig = Field(
        default_factory=AnnotationConfig, description="the cascade: tiers, calibration, budget"
    )
    curriculum: CurriculumConfig = Field(
        default_factory=CurriculumConfig, description="levels, stages, splits, augmentation"
    )
    export: ExportConfig = Field(
        default_factory=ExportConfig, description="where the datasets are written"
    )
    train: TrainConfig = Field(
        default_factory=TrainConfig, description="retrievers trained and evaluated on the export"
    )
    review: ReviewConfig = Field(
        default_factory=ReviewConfig, description="the labelling and review page"
    )
    flows: FlowsConfig = Field(default_factory=FlowsConfig, description="how the Prefect flows run")

    @property
    def store_url(self) -> str:
        """The effective store URL (the SQLite default lives in ``workdir``)."""
        return self.store.url or f"sqlite:///{Workdir(self.workdir).store_db}"


def load_config(
    path: Path | None = None, environ: Mapping[str, str] | None = None
) -> PipelineConfig:
    """Read the effective pipeline configuration.

    Args:
        path: a YAML file; ``None`` uses ``$DISSENT_CONFIG`` if set, else only the defaults.
        environ: the environment to read ``DISSENT_*`` overrides from (default ``os.environ``).

    Raises:
        ConfigError: the file is missing or not YAML, or a key or value is invalid; the
            message names the key and what is allowed.
    """
    return load_model(PipelineConfig, path, environ)


def _shown(config: PipelineConfig) -> PipelineConfig:
    """A copy safe to print: the store URL without its password."""
    url = config.store.url
    if url:
        config = config.model_copy(deep=True)
        config.store.url = display_url(url)
    return config


def dump_config(config: PipelineConfig) -> str:
    """The configuration as YAML, as ``dissent config show`` prints it (no store password)."""
    return dump_model(_shown(config))


def explain_config(config: PipelineConfig) -> str:
    """The configuration as YAML with a one-line description of every key (``dissent config
    show --explain``; no store password)."""
    return explain_model(_shown(config))
