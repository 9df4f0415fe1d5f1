"""The ``mine`` flow: every channel over the store's queries, then the disagreement sets.

Thin wiring over :func:`miners.mine.mine`, which is keyed by a fingerprint of the config, the
catalog and the queries (running it again writes nothing) and resumes a killed run where it
stopped. Channels search all queries in one call each (the dense encoder batches them itself),
so this flow has one task; the fan-out of the pipeline is annotation.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, task

from core.paths import Workdir
from flows.common import flow_config, in_flow, model_retries, publish, store_of
from flows.config import PipelineConfig
from miners.mine import mine as mine_candidates

__all__ = ["mine"]


@task(name="mine-candidates")
def mine_task(config: PipelineConfig, query_limit: int | None) -> dict[str, Any]:
    index_dir = Workdir(config.workdir).indexes
    report = mine_candidates(store_of(config), config, query_limit=query_limit, index_dir=index_dir)
    return {**asdict(report), "lines": report.lines()}


@flow(name="mine")
def mine(
    config: str | PipelineConfig | None = None, query_limit: int | None = None
) -> dict[str, Any]:
    """Mine candidates with the configured channels; returns the mining report."""
    cfg = flow_config(config)
    with in_flow(cfg):
        report = mine_task.with_options(**model_retries(cfg))(cfg, query_limit)
    publish(
        "mine-report",
        f"# Mining run {report['run_id']}\n\n```\n" + "\n".join(report["lines"]) + "\n```\n",
    )
    return report
