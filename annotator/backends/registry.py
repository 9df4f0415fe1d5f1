"""Backend construction and capabilities: the one place that maps backend names to classes.

:func:`build_backend` makes the backend a tier's settings ask for; :func:`backend_class` says
which class that is without building it (or importing a model library), so that callers ask a
backend what it can do (:class:`~annotator.backends.base.Capabilities`) instead of checking its
name. The names themselves are :data:`~annotator.backends.base.BackendName`.

Example:
    >>> tier = EndpointSettings(name="t1", backend="cross_encoder")
    >>> backend_class(tier).trainable, backend_class(tier).in_process
    (True, True)
"""

from __future__ import annotations

from pathlib import Path

from annotator.backends.base import BACKENDS, Backend, Capabilities, EndpointSettings
from core.errors import ConfigError
from core.paths import Workdir
from core.precision import Precision

__all__ = ["backend_class", "build_backend", "tier1_model_dir", "trained_model_dir"]


def tier1_model_dir(workdir: Path) -> Path:
    """Where ``dissent annotate train-tier1`` saves the cross-encoder by default."""
    return Workdir(workdir).tier1_model


def trained_model_dir(tier: EndpointSettings, workdir: Path) -> Path:
    """Where a trainable tier's model lives: its ``model``, else the default folder."""
    return Path(tier.model) if tier.model else tier1_model_dir(workdir)


def _serves_locally(tier: EndpointSettings) -> bool:
    """An ``openai_compatible`` tier with no endpoint: Dissent serves the GGUF itself."""
    return tier.base_url is None and tier.api_key_env is None


def backend_class(tier: EndpointSettings) -> type[Capabilities]:
    """The class :func:`build_backend` makes for ``tier`` (its module imports no model library).

    Raises:
        ConfigError: an unknown backend name.
    """
    name = tier.backend
    if name == "cross_encoder":
        from annotator.backends.cross_encoder import CrossEncoderBackend

        return CrossEncoderBackend
    if name == "llama_cpp":
        from annotator.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend
    if name == "openai_compatible" and _serves_locally(tier):
        from annotator.backends.llama_server import LocalServerBackend

        return LocalServerBackend
    if name == "openai_compatible":
        from annotator.backends.openai_compatible import OpenAICompatibleBackend

        return OpenAICompatibleBackend
    if name == "vllm":
        from annotator.backends.vllm import VllmBackend

        return VllmBackend
    if name == "scripted":
        from annotator.backends.scripted import ScriptedBackend

        return ScriptedBackend
    raise ConfigError(
        f"tier {tier.name!r}: unknown backend {name!r}; choose from {', '.join(BACKENDS)}"
    )


def build_backend(tier: EndpointSettings, workdir: Path, precision: Precision = "auto") -> Backend:
    """A ready backend for ``tier`` (models load here or on first use, lazily imported).

    Args:
        tier: the tier's settings (an ``annotation.tiers`` entry).
        workdir: where a trainable tier's default model folder lives.
        precision: the pipeline's ``precision`` for backends that run a torch model.

    Raises:
        ConfigError: unknown backend, or one that cannot be built from configuration
            (``scripted`` exists only in code).
    """
    if tier.backend == "cross_encoder":
        from annotator.backends.cross_encoder import CrossEncoderBackend

        return CrossEncoderBackend(trained_model_dir(tier, workdir), precision=precision)
    if tier.backend == "llama_cpp":
        from annotator.backends.llama_cpp import LlamaCppBackend

        return LlamaCppBackend(tier.model)
    if tier.backend == "openai_compatible" and _serves_locally(tier):
        from annotator.backends.llama_server import LocalServerBackend

        return LocalServerBackend(tier)
    if tier.backend == "openai_compatible":
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
