"""The backend registry: which backends build from a config, and how bad requests fail.

Only constructions that load no model and start no server are exercised here; the real
backends have their own tests against real models.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from pydantic import ValidationError

from annotator.backends.base import BACKENDS
from annotator.backends.registry import backend_class, build_backend, tier1_model_dir
from annotator.config import TierConfig
from core.errors import ConfigError, DissentError


def test_the_backend_names() -> None:
    assert BACKENDS == ("cross_encoder", "llama_cpp", "openai_compatible", "vllm", "scripted")


def test_capabilities_come_from_the_class_the_registry_would_build() -> None:
    def tier(backend: str, **endpoint: str) -> TierConfig:
        return TierConfig(name="t", backend=backend, model="m", **endpoint)

    capabilities = {
        name: (backend_class(t).__name__, backend_class(t).trainable, backend_class(t).in_process)
        for name, t in {
            "cross_encoder": tier("cross_encoder"),
            "llama_cpp": tier("llama_cpp"),
            "served here": tier("openai_compatible"),
            "remote": tier("openai_compatible", base_url="http://h:8000/v1"),
            "openai": tier("openai_compatible", api_key_env="OPENAI_API_KEY"),
            "vllm": tier("vllm"),
            "scripted": tier("scripted"),
        }.items()
    }
    assert capabilities == {
        "cross_encoder": ("CrossEncoderBackend", True, True),
        "llama_cpp": ("LlamaCppBackend", False, True),
        "served here": ("LocalServerBackend", False, True),
        "remote": ("OpenAICompatibleBackend", False, False),
        "openai": ("OpenAICompatibleBackend", False, False),
        "vllm": ("VllmBackend", False, True),
        "scripted": ("ScriptedBackend", False, True),
    }


def test_tier1_model_dir_lives_in_the_workdir(tmp_path: Path) -> None:
    assert tier1_model_dir(tmp_path) == tmp_path / "models" / "tier1-cross-encoder"


def test_scripted_cannot_be_built_from_a_config(tmp_path: Path) -> None:
    tier = TierConfig(name="fake", backend="scripted")
    with pytest.raises(ConfigError) as info:
        build_backend(tier, tmp_path)
    assert str(info.value) == (
        "tier 'fake': the scripted backend is built in code, not from a config file"
    )


def test_the_config_rejects_unknown_backend_names() -> None:
    with pytest.raises(ValidationError) as info:
        TierConfig(name="t", backend="ollama")
    error = info.value.errors()[0]
    assert error["loc"] == ("backend",) and error["type"] == "literal_error"
    assert "'cross_encoder', 'llama_cpp', 'openai_compatible', 'vllm' or 'scripted'" in error["msg"]


def test_an_unknown_backend_that_bypassed_validation_is_a_config_error(tmp_path: Path) -> None:
    tier = TierConfig.model_construct(name="t", backend="ollama")  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as info:
        build_backend(tier, tmp_path)
    assert str(info.value) == (
        "tier 't': unknown backend 'ollama'; choose from "
        "cross_encoder, llama_cpp, openai_compatible, vllm, scripted"
    )


def test_openai_compatible_with_an_endpoint_builds_without_calling_it(tmp_path: Path) -> None:
    from annotator.backends.openai_compatible import OpenAICompatibleBackend

    tier = TierConfig(
        name="remote", backend="openai_compatible", base_url="http://127.0.0.1:9/v1", model="m-7b"
    )
    backend = build_backend(tier, tmp_path)
    assert isinstance(backend, OpenAICompatibleBackend)
    assert backend.model_id == "openai_compatible:m-7b"


def test_openai_compatible_needs_the_served_model_name(tmp_path: Path) -> None:
    tier = TierConfig(name="remote", backend="openai_compatible", base_url="http://h:8000/v1")
    with pytest.raises(ConfigError, match="openai_compatible needs the served model name"):
        build_backend(tier, tmp_path)


def test_openai_compatible_reads_its_key_from_the_named_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tier = TierConfig(
        name="openai", backend="openai_compatible", api_key_env="DISSENT_TEST_KEY", model="gpt"
    )
    monkeypatch.delenv("DISSENT_TEST_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        build_backend(tier, tmp_path)
    assert str(info.value) == "tier 'openai': environment variable DISSENT_TEST_KEY is not set"
    monkeypatch.setenv("DISSENT_TEST_KEY", "sk-test")
    assert build_backend(tier, tmp_path).model_id == "openai_compatible:gpt"


def test_cross_encoder_defaults_to_the_trained_tier1_folder(tmp_path: Path) -> None:
    tier = TierConfig(name="ce", backend="cross_encoder")
    with pytest.raises(DissentError) as info:
        build_backend(tier, tmp_path)  # nothing trained there: fails before loading anything
    assert f"no trained cross-encoder at {tmp_path / 'models' / 'tier1-cross-encoder'}" in str(
        info.value
    )


def test_vllm_needs_a_model(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="the vllm backend needs a model name or path"):
        build_backend(TierConfig(name="v", backend="vllm"), tmp_path)


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is not None, reason="vllm is installed (it would load)"
)
def test_vllm_without_the_package_says_how_to_install_it(tmp_path: Path) -> None:
    tier = TierConfig(name="v", backend="vllm", model="Qwen/Qwen3-0.6B")
    with pytest.raises(DissentError, match=r"vllm is not installed.*dissent\[vllm\]"):
        build_backend(tier, tmp_path)
