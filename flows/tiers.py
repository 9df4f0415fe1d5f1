"""The annotate flow's backend wrapper, and its tiers built once per worker process.

Every tier's backend is wrapped (:func:`guard`, the flow's ``wrap_backend``) in a guard that

- bounds calls within the process: one at a time for a model run for this process
  (:attr:`~annotator.backends.base.Capabilities.in_process`: llama.cpp is not thread-safe),
  ``max_concurrency`` for a remote server, and
- holds a slot of the Prefect global concurrency limit ``dissent-tier-<name>`` (created by the
  flow with the tier's ``max_concurrency``), which bounds calls to that tier across every
  process and machine of a deployment: for example one slot per GPU behind a vLLM server.

Without a Prefect API (a plain library call) the limit is skipped and only the guard applies.

Loading a tier costs seconds (a model into memory, a llama.cpp server started), so the flow's
batch tasks share one guarded set of tiers per process (:func:`cached_cascade`): a thread-pool
runner builds it once, each Dask worker once; the calibrations are read afresh for every batch.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Sequence
from contextlib import ExitStack

from sqlalchemy import Engine

from annotator.backends.base import Answer, Backend, Pair
from annotator.backends.registry import backend_class
from annotator.cascade import Tier, TierSpec
from annotator.config import TierConfig
from annotator.tiers import load_cascade, open_tiers
from core.hashing import content_hash
from flows.config import PipelineConfig
from prompts import Prompt

__all__ = ["GuardedBackend", "cached_cascade", "guard", "limit_name", "release_cascades"]

_CACHE: dict[str, tuple[ExitStack, list[TierSpec]]] = {}
_CACHE_LOCK = threading.Lock()


def limit_name(tier_name: str) -> str:
    """The Prefect global concurrency limit of a tier."""
    safe = "".join(c if c.isalnum() else "-" for c in tier_name.lower())
    return f"dissent-tier-{safe}"


class GuardedBackend:
    """A backend whose calls are bounded in-process and by a Prefect global limit.

    ``slots`` is how many calls may run at once in this process: 1 for a model run for this
    process (not thread-safe), the tier's ``max_concurrency`` for a remote server.
    """

    def __init__(self, backend: Backend, limit: str, slots: int = 1) -> None:
        self.backend = backend
        self.model_id = backend.model_id
        self.limit = limit
        self._slots = threading.BoundedSemaphore(slots)

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        from prefect.concurrency.sync import concurrency
        from prefect.context import FlowRunContext, TaskRunContext

        with self._slots:
            if FlowRunContext.get() is None and TaskRunContext.get() is None:
                return self.backend.grade(pairs, prompt)
            with concurrency(self.limit, occupy=1, strict=False):
                return self.backend.grade(pairs, prompt)

    def close(self) -> None:
        self.backend.close()


def guard(tier: TierConfig, backend: Backend) -> Backend:
    """The flow's ``wrap_backend``: ``backend`` behind the tier's guard and Prefect limit."""
    slots = 1 if backend_class(tier).in_process else tier.max_concurrency
    return GuardedBackend(backend, limit_name(tier.name), slots)


def cached_cascade(engine: Engine, config: PipelineConfig) -> list[Tier]:
    """This process's cascade for ``config``: backends built once, calibrations read now.

    The backends (the expensive part) are cached; the calibrated thresholds are read from the
    store on every call, so a process that outlives a ``dissent calibrate`` uses the new ones.
    """
    key = content_hash(
        [
            config.store_url,
            str(config.workdir),
            config.precision,
            config.annotation.model_dump(mode="json"),
        ]
    )
    with _CACHE_LOCK:
        if key not in _CACHE:
            stack = ExitStack()
            try:
                guarded = stack.enter_context(open_tiers(config, guard))
            except BaseException:
                stack.close()
                raise
            if not _CACHE:  # servers this process started must not outlive it
                atexit.register(release_cascades)
            _CACHE[key] = (stack, guarded)
        specs = _CACHE[key][1]
    return load_cascade(engine, specs)


def release_cascades() -> None:
    """Close every cached cascade (models, servers) of this process."""
    with _CACHE_LOCK:
        for stack, _ in _CACHE.values():
            stack.close()
        _CACHE.clear()
