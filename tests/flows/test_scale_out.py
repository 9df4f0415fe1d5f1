"""Scale-out on existing engines, against PostgreSQL: the annotate flow on a Dask LocalCluster
with two worker processes, and two annotate flows started at once on the same mining run.

Either way, no pair may reach a model twice: the model calls reported by every batch add up to
the number of pairs, and the judgments hold one row per pair. The cascade here is the
cross-encoder alone (trained briefly on the sample), the cheapest real tier.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from annotator.calibrating import calibrate
from annotator.config import TierConfig
from annotator.training import train_tier1
from flows.annotate import annotate, annotate_with_runner
from flows.config import PipelineConfig, load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from store.db import open_store
from store.schema import Base, Candidate, Judgment, Label
from tests.conftest import ROOT, SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def setup(
    postgres_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Engine, PipelineConfig]:
    workdir = tmp_path_factory.mktemp("scale-out")
    cfg = load_config(ROOT / "configs" / "sample.yaml", environ={})
    cfg.workdir = workdir
    cfg.store.url = postgres_url
    cfg.annotation.tiers = [
        TierConfig(name="cross-encoder", backend="cross_encoder", max_eval_pairs=24)
    ]
    cfg.annotation.injection_pairs = 0
    cfg.annotation.max_random_relevant = 1.0  # one epoch on 96 pairs: quality is not the point
    cfg.flows.queries_per_batch = 3
    cfg.flows.retry_delay_s = 0
    engine = open_store(postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "truncate " + ", ".join(t.name for t in Base.metadata.sorted_tables) + " cascade"
        )
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    mine(engine, cfg, query_limit=18)
    train_tier1(engine, cfg, epochs=1, limit=96)
    calibrate(engine, cfg, workdir / "report")
    return engine, cfg


def _reset(engine: Engine) -> int:
    """Forget every label and judgment; return the number of candidate pairs."""
    with engine.begin() as conn:
        conn.execute(delete(Label))
        conn.execute(delete(Judgment))
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(Candidate)) or 0)


def _judged_once(engine: Engine, pairs: int) -> None:
    with Session(engine) as session:
        per_pair = session.execute(
            select(func.count())
            .select_from(Judgment)
            .group_by(Judgment.query_id, Judgment.product_hash, Judgment.model_id)
        ).scalars()
        counts = list(per_pair)
        labels = int(session.scalar(select(func.count()).select_from(Label)) or 0)
    assert len(counts) == pairs and set(counts) == {1}
    assert labels == pairs


def test_annotate_on_a_dask_local_cluster_with_two_workers(
    harness: None, setup: tuple[Engine, PipelineConfig]
) -> None:
    engine, cfg = setup
    pairs = _reset(engine)
    dask_cfg = cfg.model_copy(deep=True)
    dask_cfg.flows.task_runner = "dask"
    dask_cfg.flows.dask_workers = 2
    summary = annotate_with_runner(dask_cfg)
    assert summary["batches"] == 6  # 18 queries, 3 per batch
    assert summary["pairs"] == pairs > 0
    assert summary["model_calls"] == {"cross-encoder": pairs}
    _judged_once(engine, pairs)


def test_only_the_asked_sets_are_annotated(
    harness: None, setup: tuple[Engine, PipelineConfig]
) -> None:
    engine, cfg = setup
    _reset(engine)
    with Session(engine) as session:
        hard = int(
            session.scalar(
                select(func.count())
                .select_from(Candidate)
                .where(Candidate.candidate_set == "hard_negative")
            )
            or 0
        )
    summary = annotate(cfg, sets=["hard_negative"])
    assert summary["pairs"] == hard > 0
    assert summary["model_calls"] == {"cross-encoder": hard}


def test_two_annotate_flows_at_once_share_the_work(
    harness: None, setup: tuple[Engine, PipelineConfig]
) -> None:
    engine, cfg = setup
    pairs = _reset(engine)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []

    other = cfg.model_copy(deep=True)
    other.flows.queries_per_batch = 4  # batches that straddle the first flow's batches

    def run(config: PipelineConfig) -> None:
        try:
            results.append(annotate(config))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in (cfg, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(results) == 2
    calls = sum(r["model_calls"].get("cross-encoder", 0) for r in results)
    assert calls == pairs  # together they called the model once per pair
    _judged_once(engine, pairs)


def test_the_tier_concurrency_limits_exist(
    harness: None, setup: tuple[Engine, PipelineConfig]
) -> None:
    from prefect.client.orchestration import get_client

    from flows.annotate import ensure_tier_limits
    from flows.tiers import limit_name

    _, cfg = setup
    ensure_tier_limits(cfg)
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(limit_name("cross-encoder"))
    assert limit.limit == cfg.annotation.tiers[0].max_concurrency


def test_the_scaling_config_is_configuration_only(tmp_path: Path) -> None:
    path = ROOT / "configs" / "scale-out.yaml"
    cfg = load_config(path, environ={})
    assert cfg.flows.task_runner == "dask"
    assert cfg.store_url.startswith("postgresql+psycopg://")
    assert [t.backend for t in cfg.annotation.tiers] == ["openai_compatible"] * 3
    assert cfg.mining.dense.index == "ivf"
