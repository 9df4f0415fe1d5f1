"""Backend names and construction: the one place that knows every backend."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from annotator.backends.base import Backend
from core.errors import ConfigError

if TYPE_CHECKING:
    from annotator.config import TierConfig

__all__ = ["BACKENDS", "BackendName", "build_backend", "tier1_model_dir", "trained_model_dir"]

BackendName = Literal["cross_encoder", "llama_cpp", "openai_compatible", "vllm", "scripted"]
"""The backends there are; a tier's ``backend`` accepts these names."""
BACKENDS: tuple[str, ...] = typing.get_args(BackendName)


def tier1_model_dir(workdir: Path) -> Path:
    """Where ``dissent annotate train-tier1`` saves the cross-encoder by default."""
    return workdir / "models" / "tier1-cross-encoder"


def trained_model_dir(tier: TierConfig, workdir: Path) -> Path:
    """Where a ``cross_encoder`` tier's trained model lives: its ``model``, else the default."""
    return Path(tier.model) if tier.model else tier1_model_dir(workdir)


def build_backend(tier: TierConfig, workdir: Path) -> Backend:
    """A ready backend for ``tier`` (models load here, lazily imported).

    Raises:
        ConfigError: unknown backend, or one that cannot be built from configuration
            (``scripted`` exists only in code).
    """
    if tier.backend == "cross_encoder":
        from annotator.backends.cross_encoder import CrossEncoderBackend

        return CrossEncoderBackend(trained_model_dir(tier, workdir))
    if tier.backend == "llama_cpp":
        from annotator.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(tier.model)
    if tier.backend == "openai_compatible":
        if tier.base_url is None and tier.api_key_env is None:
            from annotator.backends.llama_server import LocalServerBackend

            return LocalServerBackend(tier)  # no endpoint given: serve the GGUF locally
        from annotator.backends.openai_compatible import OpenAICompatibleBackend

        return OpenAICompatibleBackend(tier)
    if tier.backend == "vllm":
        from annotator.backends.vllm import VllmBackend

        return VllmBackend(tier)
    if tier.backend == "scripted":
        raise ConfigError(
            f"tier {tier.name!r}: the scripted backend is built in code, not from a config file"
        )
    raise ConfigError(
        f"tier {tier.name!r}: unknown backend {tier.backend!r}; choose from {', '.join(BACKENDS)}"
    )
