"""The ``annotate`` flow: grade a mining run's candidates with the calibrated cascade, fanned
out over batches of queries with ``.map``.

Each batch task loads (once per worker process) the calibrated cascade and grades its queries'
candidates; a batch holds a work lock, so two flows on the same run, or two workers, never
send a pair to a model twice: whoever comes second finds the labels and calls nothing. Each
flow starts at a different batch, so concurrent flows share the work instead of queueing on
the same lock. Every model call is a ``judgments`` row; a killed flow resumes from what the
store holds. Batch tasks retry with exponential back-off (a server that went away).

Run it on Dask by setting ``flows.task_runner: dask`` (and ``flows.dask_address`` for an
existing cluster); the per-tier Prefect concurrency limits bound calls across all workers.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from prefect import flow, task, unmapped
from prefect.client.orchestration import get_client

from annotator.service import annotate_queries, annotation_batches
from flows.common import flow_config, in_flow, model_retries, publish, store_of, task_runner
from flows.config import PipelineConfig
from flows.tiers import cached_cascade, limit_name
from prompts import load_prompt
from store.ledger import Flow, RunRecord, recorded_run, resolve_run

__all__ = ["annotate", "annotate_with_runner", "ensure_tier_limits"]

log = logging.getLogger(__name__)


def ensure_tier_limits(config: PipelineConfig) -> None:
    """Create or update each tier's Prefect global concurrency limit (``max_concurrency``)."""
    with get_client(sync_client=True) as client:
        for tier in config.annotation.tiers:
            client.upsert_global_concurrency_limit_by_name(
                limit_name(tier.name), tier.max_concurrency
            )


@task(name="annotate-batch")
def annotate_batch(
    config: PipelineConfig,
    mining_run: int,
    query_ids: Sequence[int],
    run_id: int,
    sets: Sequence[str] | None = None,
) -> dict[str, Any]:
    engine = store_of(config)
    tiers = cached_cascade(engine, config)
    run = RunRecord(run_id)
    report = annotate_queries(
        engine, config, tiers, mining_run, run, sets=sets, query_ids=query_ids
    )
    return asdict(report)


def _sum(reports: Sequence[dict[str, Any]], key: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for report in reports:
        total.update(report[key])
    return dict(total)


def _summary(mining_run: int, reports: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The batches' reports added up; the cascade is the newest one a batch used."""
    cascades = sorted({r["cascade_id"] for r in reports})
    if len(cascades) > 1:  # recalibrated while this flow ran: say so, label all
        log.warning("the cascade was recalibrated during this flow: %s", cascades)
    return {
        "mining_run": mining_run,
        "cascade_id": cascades[-1] if cascades else None,
        "cascade_ids": cascades,
        "calibration_run": reports[-1]["calibration_run"] if reports else None,
        "batches": len(reports),
        "pairs": sum(r["pairs"] for r in reports),
        "already_labelled": sum(r["already_labelled"] for r in reports),
        "decided_by": _sum(reports, "decided_by"),
        "model_calls": _sum(reports, "model_calls"),
        "cache_hits": _sum(reports, "cache_hits"),
        "failed": sum(r["failed"] for r in reports),
    }


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
    run = resolve_run(engine, Flow.MINE, mining_run).id
    batches = annotation_batches(
        engine,
        run,
        sets=sets,
        queries_per_batch=cfg.flows.queries_per_batch,
        max_queries=max_queries,
        seed=cfg.annotation.sample.seed,
    )
    if batches:  # a different starting batch per flow run: concurrent flows split the work
        start = random.randrange(len(batches))
        batches = batches[start:] + batches[:start]
    ensure_tier_limits(cfg)
    params = {
        "mining_run": run,
        "sets": sets,
        "max_queries": max_queries,
        "batches": len(batches),
        "sample": cfg.annotation.sample.model_dump(mode="json"),
    }
    with (
        in_flow(cfg),
        recorded_run(
            engine, Flow.ANNOTATE, params, {"prompt": load_prompt().version}, mining_run_id=run
        ) as annotation,
    ):
        futures = annotate_batch.with_options(**model_retries(cfg)).map(
            unmapped(cfg), unmapped(run), batches, unmapped(annotation.id), unmapped(sets)
        )
        reports = [f.result() for f in futures]
        summary = _summary(run, reports)
        annotation.counts = summary
        annotation.cascade_id = summary["cascade_id"]
        annotation.calibration_run_id = summary["calibration_run"]
    publish(
        "annotate-report",
        f"# Annotation of mining run {run}\n\n"
        f"Cascade `{summary['cascade_id']}`: {summary['pairs']:,} pairs in {summary['batches']} batches, "
        f"{summary['already_labelled']:,} already labelled, {summary['failed']:,} failed at "
        "every tier.\n\n| tier | decided | model calls | cache hits |\n|---|---:|---:|---:|\n"
        + "\n".join(
            f"| {t.name} | {summary['decided_by'].get(t.name, 0):,} | "
            f"{summary['model_calls'].get(t.name, 0):,} | {summary['cache_hits'].get(t.name, 0):,} |"
            for t in cfg.annotation.tiers
        ),
    )
    return summary


def annotate_with_runner(config: PipelineConfig, **kwargs: Any) -> dict[str, Any]:
    """Run the flow with the task runner the config asks for (threads or Dask)."""
    result: dict[str, Any] = annotate.with_options(task_runner=task_runner(config))(
        config, **kwargs
    )
    return result
