"""Scoring: ranx metrics and paired tests by hand; the base model on the shipped sample,
through ``evaluate_models`` (checks, an ``evaluate`` run, the report)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.errors import DissentError
from core.models import default_model_path
from flows.config import PipelineConfig
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from retriever.evaluating import evaluate_models
from retriever.evaluation import (
    METRICS,
    Judged,
    bootstrap_intervals,
    paired_p_values,
    per_query_metrics,
)
from store.db import open_store
from store.ledger import Flow, find_run
from store.splits import evaluation_queries
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('eval') / 's.db'}")
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return engine


@pytest.mark.slow  # ranx compiles its metrics with numba on first use (about 20-40 s)
def test_metrics_by_hand() -> None:
    judged = Judged(
        texts={1: "drill", 2: "hose"},
        grades={1: {10: 3, 11: 0, 12: 2}, 2: {20: 1}},
        segment={1: "head", 2: "tail"},
    )
    full = {"1": {"10": 0.9, "11": 0.8, "99": 0.7}, "2": {"98": 0.5, "20": 0.4}}
    judged_run = {"1": {"10": 0.9, "11": 0.8, "12": 0.1}, "2": {"20": 0.4}}
    scores = per_query_metrics(full, judged_run, judged)
    # query 1: relevant (grade >= 2) products 10 and 12; 10 retrieved -> recall 1/2; query 2
    # has no relevant product: left out of recall
    assert scores["recall@100"] == {"1": 0.5}
    # grade-0 share of the top 10: query 1 retrieved 11 (judged 0) among 3 -> 1/3; query 2: 0
    assert scores["grade0_top10"] == pytest.approx({"1": 1 / 3, "2": 0.0})
    # NDCG@10 of query 1 (ranx: gain = grade, discount log2(rank + 1)): retrieved 10 (grade 3),
    # 11 (0), 99 (unjudged, 0): DCG = 3; ideal 10 (3), 12 (2): 3 + 2 / log2(3) = 4.261860;
    # 3 / 4.261860 = 0.703918
    assert scores["ndcg@10"]["1"] == pytest.approx(3 / (3 + 2 / math.log2(3)), abs=1e-6)
    assert scores["ndcg@10_judged"]["2"] == 1.0  # one judged product: trivially perfect
    # judged@10: query 1 judged 10 and 11 of its 3 retrieved -> 2/3; query 2: 20 of 2 -> 1/2
    assert scores["judged@10"] == pytest.approx({"1": 2 / 3, "2": 0.5})
    # grade 0 among the judged of the top 10: query 1: 11 of (10, 11) -> 1/2; query 2: 0 of 1
    assert scores["grade0_judged_top10"] == pytest.approx({"1": 0.5, "2": 0.0})
    # condensed: query 1's list without the unjudged 99 is 10 (3), 11 (0): the same DCG of 3
    # against the same ideal; query 2's is 20 alone (grade 1), its own ideal: 1.0
    assert scores["ndcg@10_condensed"]["1"] == pytest.approx(scores["ndcg@10"]["1"])
    assert scores["ndcg@10_condensed"]["2"] == 1.0 > scores["ndcg@10"]["2"]
    assert list(scores) == list(METRICS)


def test_bootstrap_intervals_hold_the_mean_and_narrow_with_more_queries() -> None:
    few = bootstrap_intervals({"m": {str(i): float(i % 2) for i in range(20)}})["m"]
    many = bootstrap_intervals({"m": {str(i): float(i % 2) for i in range(2000)}})["m"]
    assert few[0] < 0.5 < few[1] and many[0] < 0.5 < many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 5  # about 1 / sqrt(100) as wide
    assert bootstrap_intervals({"m": {"only": 1.0}}) == {}  # one query: no interval
    assert bootstrap_intervals({"m": {"a": 0.0, "b": 1.0}}) == bootstrap_intervals(
        {"m": {"a": 0.0, "b": 1.0}}
    )  # seeded


def test_paired_p_values_by_hand() -> None:
    base = {"ndcg@10": {"a": 0.0, "b": 0.0, "c": 0.0}}
    # differences 1, 2, 3: mean 2, sd 1, t = 2 / (1 / sqrt 3) = 3.4641 on 2 degrees of freedom,
    # where the t distribution's CDF is 1/2 + t / (2 sqrt(t^2 + 2)): p = 1 - t / sqrt(t^2 + 2)
    better = {"ndcg@10": {"a": 1.0, "b": 2.0, "c": 3.0}}
    t = 2 * math.sqrt(3)
    assert paired_p_values(base, better)["ndcg@10"] == pytest.approx(1 - t / math.sqrt(t**2 + 2))
    # the same figures, or a single shared query: nothing to test
    assert paired_p_values(base, base) == {"ndcg@10": None}
    assert paired_p_values(base, {"ndcg@10": {"a": 1.0, "z": 2.0}}) == {"ndcg@10": None}


@pytest.mark.slow
def test_the_base_model_on_the_sample(sample: Engine, tmp_path: Path) -> None:
    cfg = PipelineConfig(workdir=tmp_path)
    path = default_model_path()
    evaluation = evaluate_models(
        sample,
        cfg,
        {"base": path, "again": path, "third": path},
        against=["again"],
        command="dissent evaluate",
    )
    assert evaluation.queries == len(evaluation_queries(sample, cfg.splits)) > 0
    assert evaluation.products == 296 and sum(evaluation.segments.values()) == evaluation.queries
    base, again, third = evaluation.models
    # tested against "again" only after it; the same model again: nothing to test
    assert base.p_values_against == again.p_values_against == {}
    assert set(third.p_values_against) == {"again"}
    assert set(third.p_values_against["again"]) == set(METRICS)
    for metric in METRICS:
        assert 0.0 <= base.overall[metric] <= 1.0, metric
        assert again.overall[metric] == pytest.approx(base.overall[metric])
    assert base.overall["recall@100"] > 0.5  # MiniLM finds most relevant sample products
    assert again.p_values["ndcg@10"] is None  # the same model: no difference to test
    # the default report path, and an evaluate run naming each model by its content
    assert evaluation.files["json"] == str(tmp_path.resolve() / "reports" / "evaluation.json")
    data = json.loads(Path(evaluation.files["json"]).read_text())
    assert set(data["models"]) == {"base", "again", "third"} and data["run"] == evaluation.run_id
    assert set(data["p_values_against"]) == {"third"}
    assert "data:image/png;base64," in Path(evaluation.files["html"]).read_text()
    assert evaluation.run_id is not None
    run = find_run(sample, evaluation.run_id, Flow.EVALUATE)
    models = run.parameters["models"]
    assert models["base"]["identity"] == models["third"]["identity"]  # one model, one identity
    assert models["base"]["train_run"] is None and run.counts["queries"] == evaluation.queries


def test_testing_against_a_model_not_evaluated_is_a_clear_error(
    sample: Engine, tmp_path: Path
) -> None:
    cfg = PipelineConfig(workdir=tmp_path)
    with pytest.raises(DissentError, match="cannot test against human: not among"):
        evaluate_models(sample, cfg, {"base": default_model_path()}, against=["human"])


def test_no_evaluation_queries_is_a_clear_error(sample: Engine, tmp_path: Path) -> None:
    cfg = PipelineConfig(workdir=tmp_path)
    cfg.splits.fractions = (0.5, 0.25, 0.25, 0.0)
    with pytest.raises(DissentError, match="no evaluation queries"):
        evaluate_models(sample, cfg, {"base": default_model_path()})
