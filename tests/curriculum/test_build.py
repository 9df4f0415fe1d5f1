"""`dissent curriculum build` on the hand-built store (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DissentError
from curriculum.build import build_curriculum
from flows.config import PipelineConfig
from store.schema import CurriculumExample, Run
from tests.curriculum.conftest import CASCADE, HandStore


def _config(tmp_path: Path, **curriculum: object) -> PipelineConfig:
    cfg = PipelineConfig(workdir=tmp_path)
    for key, value in {"validation_fraction": 0.0, "typo_rate": 0.0, **curriculum}.items():
        setattr(cfg.curriculum, key, value)
    return cfg


def _examples(store: HandStore, run_id: int) -> list[CurriculumExample]:
    with Session(store.engine) as session:
        return list(
            session.scalars(select(CurriculumExample).where(CurriculumExample.run_id == run_id))
        )


def test_build_writes_the_hand_computed_curriculum(hand_store: HandStore, tmp_path: Path) -> None:
    report = build_curriculum(hand_store.engine, _config(tmp_path))
    assert (report.mining_run, report.cascade_id) == (hand_store.mining_run, CASCADE)
    assert report.levels["per_level"] == {"1": 2, "2": 2, "3": 2, "4": 2, "5": 2}
    assert report.levels["promoted"] == {"hard_negative": 1}
    assert (report.levels["failed"], report.levels["unlabelled"]) == (1, 1)
    rows = _examples(hand_store, report.run_id)
    assert Counter(r.stage for r in rows) == {1: 4, 2: 2, 3: 4, 0: 11}
    assert {r.split for r in rows} == {"train"} and not any(r.augmented for r in rows)
    negatives = {hand_store.name(r.negative_id) for r in rows if r.negative_id and r.stage}
    assert "p4" not in negatives  # promoted: never trained as a negative
    assert negatives == {"p3", "p5", "p6", "p8", "p12", "p13"}
    q1 = {r.query_text for r in rows if r.query_id == hand_store.query["q1"]}
    assert q1 == {"cordless drill"}
    with Session(hand_store.engine) as session:
        run = session.get(Run, report.run_id)
        assert run is not None and run.status == "succeeded" and run.flow == "curriculum"
        assert (run.cascade_id, run.mining_run_id) == (CASCADE, hand_store.mining_run)


def test_building_again_changes_nothing(hand_store: HandStore, tmp_path: Path) -> None:
    first = build_curriculum(hand_store.engine, _config(tmp_path))
    again = build_curriculum(hand_store.engine, _config(tmp_path))
    assert again.reused and again.run_id == first.run_id
    with Session(hand_store.engine) as session:
        assert session.query(CurriculumExample).count() == 21
    other = build_curriculum(hand_store.engine, _config(tmp_path, relevance_cutoff=3))
    assert other.run_id != first.run_id and not other.reused
    # cut-off 3: p2 (grade 2, hard positive) is demoted, so stage 2 has no positive left but p4
    assert other.levels["demoted"] == {"easy_positive": 1, "hard_positive": 1}


def test_typos_go_to_train_queries_only(hand_store: HandStore, tmp_path: Path) -> None:
    # seed 2 puts "garden hose" in validation and "cordless drill" in train at 0.5
    report = build_curriculum(
        hand_store.engine, _config(tmp_path, validation_fraction=0.5, typo_rate=1.0, seed=2)
    )
    rows = _examples(hand_store, report.run_id)
    side = {r.query_id: r.split for r in rows}
    assert set(side.values()) == {"train", "validation"}, "pick a seed that splits the two"
    train_q = next(q for q, s in side.items() if s == "train")
    clean = [r for r in rows if r.query_id == train_q and not r.augmented]
    noisy = [r for r in rows if r.query_id == train_q and r.augmented]
    # every train example has one noisy copy with the same products and label
    key = lambda r: (r.stage, r.level, r.positive_id, r.negative_id, r.label)  # noqa: E731
    assert sorted(map(key, noisy)) == sorted(map(key, clean))
    assert len({r.query_text for r in noisy}) == 1
    assert {r.query_text for r in noisy} != {r.query_text for r in clean}
    assert not any(r.augmented for r in rows if r.split == "validation")
    assert report.augmented == {"queries": 1, "examples": len(noisy)}


def test_nothing_to_build_is_a_clear_error(engine: object, tmp_path: Path) -> None:
    with pytest.raises(DissentError, match="run `dissent mine` first"):
        build_curriculum(engine, _config(tmp_path))  # type: ignore[arg-type]


def test_an_unannotated_run_is_a_clear_error(hand_store: HandStore, tmp_path: Path) -> None:
    with pytest.raises(DissentError, match="run `dissent annotate` first"):
        build_curriculum(hand_store.engine, _config(tmp_path), cascade="not-a-cascade")
