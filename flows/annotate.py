"""The ``annotate`` flow: grade a mining run's candidates with the calibrated cascade, fanned
out over batches of queries with ``.map``.

Thin wiring over :func:`annotator.annotating.annotate`, which starts and records the run: this
flow only plans the batches (queries in a seeded order, starting at a random batch, so that
concurrent flows on the same run share the work instead of queueing on the same lock), guards
every tier's backend (:func:`flows.tiers.guard`) and maps a task over the batches. Each task
grades its batch with this process's cascade (:func:`flows.tiers.cached_cascade`); a batch
holds a work lock per query, so two flows or two workers never send a pair to a model twice.
Every model call is a ``judgments`` row; a killed flow resumes from what the store holds.
Batch tasks retry with exponential back-off (a server that went away).

Run it on Dask by setting ``flows.task_runner: dask`` (and ``flows.dask_address`` for an
existing cluster); the per-tier Prefect concurrency limits bound calls across all workers.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from prefect import flow, task, unmapped
from prefect.client.orchestration import get_client
from sqlalchemy import Engine

from annotator.annotating import (
    AnnotationJob,
    AnnotationReport,
    BatchPlanner,
    BatchRunner,
    QueryBatch,
    annotate_queries,
    annotation_batches,
)
from annotator.annotating import annotate as annotate_run
from flows.common import flow_config, in_flow, model_retries, publish, store_of, task_runner
from flows.config import PipelineConfig
from flows.tiers import cached_cascade, guard, limit_name
from store.ledger import tagged

__all__ = ["annotate", "annotate_with_runner", "ensure_tier_limits"]


def ensure_tier_limits(config: PipelineConfig) -> None:
    """Create or update each tier's Prefect global concurrency limit (``max_concurrency``)."""
    with get_client(sync_client=True) as client:
        for tier in config.annotation.tiers:
            client.upsert_global_concurrency_limit_by_name(
                limit_name(tier.name), tier.max_concurrency
            )


@task(name="annotate-batch")
def annotate_batch(
    config: PipelineConfig, job: AnnotationJob, query_ids: QueryBatch
) -> AnnotationReport:
    engine = store_of(config)
    return annotate_queries(engine, config, cached_cascade(engine, config), job, query_ids)


def _plan(config: PipelineConfig, max_queries: int | None) -> BatchPlanner:
    """Batches of ``flows.queries_per_batch`` queries, starting at a random one."""

    def plan(engine: Engine, mining_run: int, sets: Sequence[str] | None) -> list[QueryBatch]:
        batches: list[QueryBatch] = list(
            annotation_batches(
                engine,
                mining_run,
                sets=sets,
                queries_per_batch=config.flows.queries_per_batch,
                max_queries=max_queries,
                seed=config.annotation.sample.seed,
            )
        )
        start = random.randrange(len(batches)) if batches else 0
        return batches[start:] + batches[:start]

    return plan


def _mapped(config: PipelineConfig) -> BatchRunner:
    """Run the batches as ``annotate-batch`` tasks on the flow's task runner."""

    def run_batches(job: AnnotationJob, batches: Sequence[QueryBatch]) -> list[AnnotationReport]:
        futures = annotate_batch.with_options(**model_retries(config)).map(
            unmapped(config), unmapped(job), list(batches)
        )
        return [future.result() for future in futures]

    return run_batches


@flow(name="annotate")
def annotate(
    config: str | PipelineConfig | None = None,
    mining_run: int | None = None,
    sets: list[str] | None = None,
    max_queries: int | None = None,
) -> dict[str, Any]:
    """Grade the candidates of ``mining_run`` (default: the latest) in parallel batches."""
    cfg = flow_config(config)
    engine = store_of(cfg)
    ensure_tier_limits(cfg)
    with in_flow(cfg), tagged({"max_queries": max_queries}, {}):
        report = annotate_run(
            engine,
            cfg,
            mining_run=mining_run,
            sets=sets,
            plan=_plan(cfg, max_queries),
            wrap_backend=guard,
            run_batches=_mapped(cfg),
        )
    publish(
        "annotate-report",
        f"# Annotation of mining run {report.mining_run}\n\n"
        f"Cascade `{report.cascade_id}`: {report.pairs:,} pairs in {report.batches} batches, "
        f"{report.already_labelled:,} already labelled, {report.failed:,} failed at "
        "every tier.\n\n| tier | decided | model calls | cache hits |\n|---|---:|---:|---:|\n"
        + "\n".join(
            f"| {t.name} | {report.decided_by.get(t.name, 0):,} | "
            f"{report.model_calls.get(t.name, 0):,} | {report.cache_hits.get(t.name, 0):,} |"
            for t in cfg.annotation.tiers
        ),
    )
    return report.summary()


def annotate_with_runner(config: PipelineConfig, **kwargs: Any) -> dict[str, Any]:
    """Run the flow with the task runner the config asks for (threads or Dask)."""
    result: dict[str, Any] = annotate.with_options(task_runner=task_runner(config))(
        config, **kwargs
    )
    return result
