"""The four-way split by query, and no evaluation query or label reaching a training input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from annotator.config import Tier1Training
from annotator.pairs import labelled_pairs
from annotator.training_data import training_set
from core.errors import DissentError
from curriculum.build import build_curriculum
from flows.config import PipelineConfig, load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from store.db import open_store
from store.schema import Candidate, Query
from store.splits import SPLITS, SplitsConfig, evaluation_queries, split_of
from tests.conftest import ROOT, SAMPLE


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('splits') / 's.db'}")
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return engine


def _config(tmp_path: Path) -> PipelineConfig:
    cfg = load_config(ROOT / "configs/sample.yaml", environ={})
    cfg.workdir = tmp_path / "work"
    return cfg


def test_split_of_is_seeded_and_follows_the_fractions() -> None:
    keys = [f"query {i}" for i in range(4000)]
    counts = Counter(split_of(k, (0.4, 0.2, 0.2, 0.2), seed=0) for k in keys)
    assert set(counts) == set(SPLITS)
    assert (
        abs(counts["train"] / 4000 - 0.4) < 0.03 and abs(counts["evaluation"] / 4000 - 0.2) < 0.03
    )
    assert [split_of(k, (0.4, 0.2, 0.2, 0.2), 0) for k in keys[:50]] == [
        split_of(k, (0.4, 0.2, 0.2, 0.2), 0) for k in keys[:50]
    ]
    assert {split_of(k, (0.0, 0.0, 0.0, 1.0), 7) for k in keys[:50]} == {"evaluation"}


def test_the_annotator_never_reads_evaluation_labels(sample: Engine) -> None:
    splits = SplitsConfig()
    held = evaluation_queries(sample, splits)
    assert 0 < len(held) < 40  # the sample's 40 queries, about a fifth held out
    pairs = labelled_pairs(sample, splits)
    assert {lp.split for lp in pairs} == {"train", "calibration", "test"}
    assert not {lp.pair.query_id for lp in pairs} & held
    train = [lp for lp in pairs if lp.split == "train"]
    data = training_set(sample, train, Tier1Training(negative_share=1.0, injected_share=0.5))
    with sample.connect() as conn:
        held_texts = set(conn.execute(select(Query.text).where(Query.id.in_(held))).scalars())
    assert not {e.query for e in [*data.fit, *data.dev]} & held_texts


def test_mining_holds_evaluation_queries_out_and_the_curriculum_refuses_them(
    sample: Engine, tmp_path: Path
) -> None:
    cfg = _config(tmp_path)
    held = evaluation_queries(sample, cfg.splits)
    report = mine(sample, cfg)
    with sample.connect() as conn:
        mined = set(
            conn.execute(
                select(Candidate.query_id).where(Candidate.run_id == report.run_id).distinct()
            ).scalars()
        )
    assert report.held_out == len(held) and not mined & held
    assert len(mined) == 40 - len(held)

    cfg.mining.include_evaluation_queries = True
    leaky = mine(sample, cfg)
    with pytest.raises(DissentError, match="evaluation queries"):
        build_curriculum(sample, cfg, mining_run=leaky.run_id)
