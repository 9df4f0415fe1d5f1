"""The ``pipeline`` flow: ingest → mine → calibrate → annotate → build_curriculum → export.

Each step is its own flow (a subflow here), so each can also run alone, and each is
idempotent over the store: a pipeline killed at any point, run again, skips what is done
(mining reused by fingerprint, every model call a cache hit, the curriculum reused by its
inputs) and finishes the rest. ``calibrate`` trains tier 1 first when it has no model. The
pipeline records no run of its own: each step's runs carry this flow run's id, and the
curriculum run's lineage leads back to the mining, annotation and calibration runs.

Examples:
    dissent run --config configs/sample.yaml --mapping sample/mapping.yaml
    python -m flows.pipeline --config configs/sample.yaml --mapping sample/mapping.yaml
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from prefect import flow

from flows.annotate import annotate_with_runner
from flows.calibrate import calibrate
from flows.common import flow_config, in_flow, publish, quiet_local_api
from flows.config import PipelineConfig
from flows.datasets import build_curriculum, export
from flows.ingestion import ingest
from flows.mine import mine
from store.db import display_url

__all__ = ["outputs_lines", "pipeline"]


@flow(name="pipeline")
def pipeline(
    config: str | PipelineConfig | None = None,
    mapping: str | None = None,
    file: str | None = None,
    query_limit: int | None = None,
) -> dict[str, Any]:
    """Run every stage on the config's store; ingest ``mapping`` first when given.

    Returns where each output is and the headline figures.
    """
    started = time.perf_counter()
    cfg = flow_config(config)
    with in_flow(cfg):
        if mapping:
            ingest(mapping, file, cfg)
        mined = mine(cfg, query_limit)
        calibration = calibrate(cfg)
        annotated = annotate_with_runner(cfg, mining_run=mined["run_id"])
        built = build_curriculum(cfg, mined["run_id"], annotated["cascade_id"])
        exported = export(cfg, built["run_id"], None, None)
        result = {
            "store": display_url(cfg.store_url),
            "mining_run": mined["run_id"],
            "candidates": mined["counts"],
            "calibration_report": calibration["paths"],
            "cascade_test": calibration["cascade"]["test"],
            "compute_share_of_top_tier": calibration["cascade"].get("cost_share_of_top_tier"),
            "annotation": {
                k: annotated[k]
                for k in ("pairs", "already_labelled", "decided_by", "model_calls", "failed")
            },
            "curriculum_run": built["run_id"],
            "curriculum": built["per_stage_split"],
            "export_dir": exported["output_dir"],
            "dataset_card": exported["paths"].get("card"),
            "seconds": round(time.perf_counter() - started, 1),
        }
    publish(
        "pipeline-report",
        "# Pipeline\n\n" + "\n".join(f"- {line}" for line in outputs_lines(result)),
    )
    return result


def outputs_lines(result: dict[str, Any]) -> list[str]:
    """Where each output of a pipeline run is, as printable lines."""
    test = result["cascade_test"]
    qwk = "undefined" if test.get("qwk") is None else f"{test['qwk']:.3f}"
    exact = "n/a" if test.get("exact") is None else f"{test['exact']:.1%}"
    return [
        f"store: {result['store']}",
        f"mining run {result['mining_run']}: "
        + ", ".join(f"{k} {v:,}" for k, v in result["candidates"].items()),
        f"calibration report: {result['calibration_report'].get('html')} "
        f"(cascade on held-out labels: exact {exact}, QWK {qwk})",
        f"annotated {result['annotation']['pairs']:,} pairs; decided by "
        + ", ".join(f"{k} {v:,}" for k, v in result["annotation"]["decided_by"].items())
        + f"; failed {result['annotation']['failed']:,}",
        f"curriculum run {result['curriculum_run']}: "
        + "; ".join(
            f"{stage} {by['train']:,}/{by['validation']:,}"
            for stage, by in result["curriculum"].items()
        )
        + " (train/validation)",
        f"datasets: {result['export_dir']}",
        f"dataset card: {result['dataset_card']}",
        f"pipeline finished in {result['seconds']:.0f} s",
    ]


def main(
    config: Annotated[
        str | None, typer.Option(help="pipeline config YAML (default: $DISSENT_CONFIG)")
    ] = None,
    mapping: Annotated[str | None, typer.Option(help="dataset mapping to ingest first")] = None,
) -> None:
    """Run the whole pipeline through Prefect's local API and print where each output is."""
    quiet_local_api()
    result = pipeline(config, mapping)
    for line in outputs_lines(result):
        print(line)


if __name__ == "__main__":
    typer.run(main)
