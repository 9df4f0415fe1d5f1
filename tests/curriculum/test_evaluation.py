"""`dissent evaluate`: full-catalog retrieval on the held-out evaluation queries, scored by ranx."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.errors import DissentError
from core.models import default_model_path
from curriculum.evaluation import METRICS, _Judged, _per_query, evaluate_models, write_evaluation
from flows.config import PipelineConfig
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from store.db import open_store
from store.splits import evaluation_queries
from tests.conftest import SAMPLE


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('eval') / 's.db'}")
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return engine


@pytest.mark.slow  # ranx compiles its metrics with numba on first use (about 20-40 s)
def test_metrics_by_hand() -> None:
    judged = _Judged(
        texts={1: "drill", 2: "hose"},
        grades={1: {10: 3, 11: 0, 12: 2}, 2: {20: 1}},
        segment={1: "head", 2: "tail"},
    )
    full = {"1": {"10": 0.9, "11": 0.8, "99": 0.7}, "2": {"98": 0.5, "20": 0.4}}
    judged_run = {"1": {"10": 0.9, "11": 0.8, "12": 0.1}, "2": {"20": 0.4}}
    scores = _per_query(full, judged_run, judged)
    # query 1: relevant (grade >= 2) products 10 and 12; 10 retrieved -> recall 1/2; query 2
    # has no relevant product: left out of recall
    assert scores["recall@100"] == {"1": 0.5}
    # grade-0 share of the top 10: query 1 retrieved 11 (judged 0) among 3 -> 1/3; query 2: 0
    assert scores["grade0_top10"] == pytest.approx({"1": 1 / 3, "2": 0.0})
    # ranx NDCG: query 1's ideal ranking 10 (3), 12 (2); retrieved 10, 11 (0), 99 (unjudged,
    # 0): the 3 is first, the 2 is missed -> below 1 and above 0
    assert 0.0 < scores["ndcg@10"]["1"] < 1.0
    assert scores["ndcg@10_judged"]["2"] == 1.0  # one judged product: trivially perfect


@pytest.mark.slow
def test_the_base_model_on_the_sample(sample: Engine, tmp_path: Path) -> None:
    cfg = PipelineConfig(workdir=tmp_path)
    path = default_model_path()
    evaluation = evaluate_models(
        sample, cfg, {"base": path, "again": path, "third": path}, against=["again"]
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
    paths = write_evaluation(evaluation, tmp_path / "eval.json", "dissent evaluate")
    data = json.loads(paths["json"].read_text())
    assert set(data["models"]) == {"base", "again", "third"}
    assert data["queries"] == evaluation.queries
    assert set(data["p_values_against"]) == {"third"}
    assert set(data["models"]["base"]) == set(METRICS)
    assert "data:image/png;base64," in paths["html"].read_text()


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
