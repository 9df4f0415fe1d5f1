"""What every flow shares, without starting a flow: retries, the task runner, the config."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

from annotator.config import TierConfig
from core.errors import ConfigError, DissentError, StoreError
from flows.common import _retryable, flow_config, model_retries, task_runner, versions
from flows.config import FlowsConfig, PipelineConfig


class State:
    """A stand-in for a Prefect state: ``result()`` raises what it was given."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error

    def result(self) -> str:
        if self.error is not None:
            raise self.error
        return "ok"


@pytest.fixture(autouse=True)
def no_config_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configs here come from the test alone, not from DISSENT_* variables of the shell."""
    for name in list(os.environ):
        if name.startswith("DISSENT_"):
            monkeypatch.delenv(name)


def test_user_errors_are_not_retried() -> None:
    assert _retryable(None, None, State(DissentError("bad config"))) is False
    # subclasses too: they fail the same way every time
    assert _retryable(None, None, State(ConfigError("no such key"))) is False
    assert _retryable(None, None, State(StoreError("cannot migrate"))) is False


def test_other_failures_are_retried() -> None:
    assert _retryable(None, None, State(RuntimeError("HTTP 500"))) is True
    assert _retryable(None, None, State(TimeoutError())) is True
    assert _retryable(None, None, State(KeyboardInterrupt())) is True
    # a state whose result does not raise
    assert _retryable(None, None, State(None)) is True


def test_model_retries_with_back_off() -> None:
    config = PipelineConfig(flows=FlowsConfig(retries=3, retry_delay_s=10.0))
    options = model_retries(config)
    assert set(options) == {
        "retry_condition_fn",
        "retries",
        "retry_delay_seconds",
        "retry_jitter_factor",
    }
    assert options["retry_condition_fn"] is _retryable
    assert options["retries"] == 3
    # exponential: 10, 20, 40 for three retries
    assert options["retry_delay_seconds"](3) == [10.0, 20.0, 40.0]
    assert options["retry_jitter_factor"] == 0.5


def test_model_retries_without_delay() -> None:
    config = PipelineConfig(flows=FlowsConfig(retries=0, retry_delay_s=0))
    options = model_retries(config)
    assert options["retries"] == 0
    assert options["retry_delay_seconds"] == 0
    assert options["retry_jitter_factor"] is None


def test_thread_task_runner_with_max_workers() -> None:
    from prefect.task_runners import ThreadPoolTaskRunner

    runner = task_runner(PipelineConfig(flows=FlowsConfig(task_runner="thread", max_workers=5)))
    assert isinstance(runner, ThreadPoolTaskRunner)
    assert runner._max_workers == 5


def test_dask_task_runner_with_an_address_or_a_local_cluster() -> None:
    pytest.importorskip("prefect_dask")
    from prefect_dask import DaskTaskRunner

    remote = task_runner(
        PipelineConfig(flows=FlowsConfig(task_runner="dask", dask_address="tcp://10.0.0.1:8786"))
    )
    assert isinstance(remote, DaskTaskRunner)
    assert remote.address == "tcp://10.0.0.1:8786"
    local = task_runner(PipelineConfig(flows=FlowsConfig(task_runner="dask", dask_workers=3)))
    assert isinstance(local, DaskTaskRunner)
    assert local.address is None
    assert local.cluster_class == "distributed.LocalCluster"
    assert local.cluster_kwargs == {"n_workers": 3, "threads_per_worker": 1, "processes": True}


def test_flow_config_passes_a_config_through() -> None:
    config = PipelineConfig(workdir=Path("somewhere"))
    assert flow_config(config) is config


def test_flow_config_loads_a_path(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(f"workdir: {tmp_path / 'work'}\nflows:\n  retries: 5\n  max_workers: 7\n")
    for given in (str(path), path):
        config = flow_config(given)  # type: ignore[arg-type]
        assert config.workdir == tmp_path / "work"
        assert (config.flows.retries, config.flows.max_workers) == (5, 7)
        # the rest keeps its defaults
        assert config.flows.retry_delay_s == 10.0


def test_flow_config_none_reads_dissent_config_then_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert flow_config(None).flows.retries == 2  # the built-in default
    path = tmp_path / "env.yaml"
    path.write_text("flows:\n  retries: 9\n")
    monkeypatch.setenv("DISSENT_CONFIG", str(path))
    assert flow_config(None).flows.retries == 9


def test_flow_config_with_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        flow_config(str(tmp_path / "nope.yaml"))


def test_versions_name_prefect_and_the_tiers() -> None:
    config = PipelineConfig()
    config.annotation.tiers = [
        TierConfig(name="t1", backend="llama_cpp", model="/models/g.gguf"),
        TierConfig(name="t2", backend="openai_compatible", base_url="http://gpu:8000/v1"),
    ]
    assert versions(config) == {
        "prefect": importlib.metadata.version("prefect"),
        "tiers": [
            {"name": "t1", "backend": "llama_cpp", "model": "/models/g.gguf", "base_url": None},
            {
                "name": "t2",
                "backend": "openai_compatible",
                "model": None,
                "base_url": "http://gpu:8000/v1",
            },
        ],
    }
