"""What every flow shares: its config, its ``runs`` row, retries, the task runner, artifacts.

Flows are thin: each loads the config, calls the library in tasks, and publishes a markdown
artifact. The library records every unit of work in the ``runs`` ledger; a flow writes no row
of its own, but runs its body inside :func:`in_flow`, so that those rows carry the Prefect
flow-run id and the versions of Prefect and of the configured models. All decisions live in
the library.

Caching: the library's own keys are the cache, and they are safe where a Prefect input cache
is not: mining is keyed by a fingerprint of config, catalog and queries; every model call by
(query, product content, model, prompt); a curriculum by its inputs. Running a flow again on
the same inputs therefore writes nothing and calls no model, whatever Prefect remembers, and a
changed product is never served a stale result. Prefect's input cache is used only for pure
planning steps.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff
from sqlalchemy import Engine

from core.chatter import quiet_third_parties
from core.children import reap_children_on_exit
from core.errors import DissentError
from flows.config import PipelineConfig, load_config
from store.db import open_store
from store.ledger import tagged

__all__ = [
    "flow_config",
    "in_flow",
    "model_retries",
    "publish",
    "quiet_local_api",
    "store_of",
    "task_runner",
    "versions",
]


def quiet_local_api(verbose: bool = False) -> None:
    """Set up Prefect's temporary local API, unless the user chose otherwise, before a flow
    first runs, and keep Prefect's and the model libraries' INFO chatter off the console.

    Without a configured server, Prefect starts a temporary local one that would try to send
    usage telemetry (and log an error on machines that cannot reach it), and gives it 20 s to
    start: on a busy 2-core machine it can take longer, and the flow then fails before it
    begins, so Dissent waits up to 120 s. Unless ``verbose``, Prefect's console shows only
    warnings and errors (its flow and task logs still reach its API and UI), and so do the
    model libraries (:func:`core.chatter.quiet_third_parties`). Entry points (the CLI,
    ``python -m flows.pipeline``, ``make demo``) call this before starting a flow.
    """
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # that temporary server is this process's child: it must not outlive a killed run
    reap_children_on_exit()
    if not verbose:
        quiet_third_parties()
        _quiet_prefect_console()


def _quiet_prefect_console() -> None:
    """Raise Prefect's console handlers to WARNING (its API handlers keep every level)."""
    import prefect  # noqa: F401  (configures Prefect's logging, once per process)
    from prefect.logging.handlers import PrefectConsoleHandler

    for name in (None, "uvicorn", "fastapi", "prefect"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, PrefectConsoleHandler):
                handler.setLevel(logging.WARNING)


def flow_config(config: str | PipelineConfig | None) -> PipelineConfig:
    """A config object, a YAML path, or ``None`` ($DISSENT_CONFIG, then the built-in defaults)."""
    if isinstance(config, PipelineConfig):
        return config
    return load_config(Path(config) if config else None)


_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def store_of(config: PipelineConfig) -> Engine:
    """The store, migrated (its directory created for SQLite); one engine per process and URL."""
    with _ENGINES_LOCK:
        if config.store_url not in _ENGINES:
            config.workdir.mkdir(parents=True, exist_ok=True)
            _ENGINES[config.store_url] = open_store(config.store_url)
        return _ENGINES[config.store_url]


def versions(config: PipelineConfig) -> dict[str, Any]:
    """Prefect's version and the configured tiers, for the ``runs`` rows made in a flow."""
    try:
        prefect = importlib.metadata.version("prefect")
    except importlib.metadata.PackageNotFoundError:
        prefect = None
    return {
        "prefect": prefect,
        "tiers": [
            {"name": t.name, "backend": t.backend, "model": t.model, "base_url": t.base_url}
            for t in config.annotation.tiers
        ],
    }


@contextmanager
def in_flow(config: PipelineConfig) -> Iterator[None]:
    """Stamp every run the library records inside with this flow run's id and versions."""
    with tagged({"prefect_flow_run": str(flow_run.get_id() or "")}, versions(config)):
        yield


def _retryable(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a failure unless it is a user error (bad config, missing calibration, no token):
    those fail the same way every time and say how to fix them."""
    try:
        state.result()
    except DissentError:
        return False
    except BaseException:
        return True
    return True


def model_retries(config: PipelineConfig) -> dict[str, Any]:
    """Task options for model and network steps: bounded retries with exponential back-off,
    except for user errors (:class:`core.errors.DissentError`)."""
    return {
        "retry_condition_fn": _retryable,
        "retries": config.flows.retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=config.flows.retry_delay_s)
        if config.flows.retry_delay_s > 0
        else 0,
        "retry_jitter_factor": 0.5 if config.flows.retry_delay_s > 0 else None,
    }


def task_runner(config: PipelineConfig) -> Any:
    """The task runner the config asks for: threads, or Dask (a cluster or a LocalCluster)."""
    if config.flows.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if config.flows.dask_address:
            return DaskTaskRunner(address=config.flows.dask_address)
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": config.flows.dask_workers,
                "threads_per_worker": 1,
                "processes": True,
            },
        )
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=config.flows.max_workers)


def publish(key: str, markdown: str) -> None:
    """A markdown artifact on the current flow run (keys: lowercase letters, digits, dashes)."""
    create_markdown_artifact(key=key, markdown=markdown)
