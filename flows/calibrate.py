"""The ``calibrate`` flow: train each trainable tier that has no model yet, calibrate every
tier on the human labels, choose thresholds, and write the agreement report (HTML, Markdown,
JSON).

Thin wiring over :func:`annotator.training.train_tier` and
:func:`annotator.calibrating.calibrate`. The agreement gate (``annotation.min_qwk``) fails the
flow after the report is written.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prefect import flow, task

from annotator.calibrating import calibrate as calibrate_tiers
from annotator.rounds import label_line, round_lines
from annotator.training import train_tier, untrained_tiers
from flows.common import flow_config, in_flow, model_retries, publish, store_of
from flows.config import PipelineConfig

__all__ = ["calibrate"]


@task(name="train-tier")
def train_task(config: PipelineConfig, tier: str) -> str:
    return train_tier(store_of(config), config, tier).output_dir


@task(name="calibrate-tiers")
def calibrate_task(config: PipelineConfig) -> dict[str, Any]:
    outcome, paths = calibrate_tiers(store_of(config), config)
    return {
        "cascade": asdict(outcome.cascade),
        "gate": asdict(outcome.gate),
        "tiers": [{"name": t.name, "test": asdict(t.calibrated)} for t in outcome.tiers],
        "paths": {k: str(v) for k, v in paths.items()},
        "labels": [line for line in (label_line(outcome), *round_lines(outcome)) if line],
    }


@flow(name="calibrate")
def calibrate(config: str | PipelineConfig | None = None) -> dict[str, Any]:
    """Calibrate the cascade (training untrained tiers first); returns the report's figures."""
    cfg = flow_config(config)
    with in_flow(cfg):
        for tier in untrained_tiers(cfg):
            train_task.with_options(**model_retries(cfg))(cfg, tier)
        result = calibrate_task.with_options(**model_retries(cfg))(cfg)
    test = result["cascade"]["test"]
    exact = "n/a" if test.get("exact") is None else f"{test['exact']:.1%}"
    publish(
        "calibration-report",
        "# Calibration\n\n"
        f"Cascade on the held-out test split: exact agreement {exact}, QWK {test.get('qwk')}, "
        f"compute {result['cascade'].get('cost_share_of_top_tier', 0):.1%} of the top tier.\n\n"
        + "".join(f"{line}\n\n" for line in result["labels"])
        + "\n".join(f"- {kind}: `{path}`" for kind, path in result["paths"].items()),
    )
    return result
