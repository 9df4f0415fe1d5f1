"""Mining the shipped sample end to end, on SQLite and PostgreSQL: idempotent and resumable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, delete, func, select

import miners.mine as mine_module
from flows.config import PipelineConfig, load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from store.ledger import table_counts
from store.ranked import read_lists, retrievals
from store.schema import Candidate, RankedList, Run
from tests.conftest import ROOT, SAMPLE


def sample_config(tmp_path: Path) -> PipelineConfig:
    cfg = load_config(ROOT / "configs/sample.yaml", environ={})
    cfg.workdir = tmp_path / "work"
    cfg.mining.include_evaluation_queries = True  # all 40 (held out: tests/store/test_splits.py)
    return cfg


@pytest.fixture(autouse=True)
def _small_write_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mine_module, "WRITE_BATCH", 8)  # 40 queries -> 5 batches: resuming


@pytest.fixture
def sample_store(engine: Engine) -> Engine:
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return engine


def candidate_rows(engine: Engine, run_id: int) -> set[tuple[int, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Candidate.query_id, Candidate.product_id, Candidate.candidate_set).where(
                Candidate.run_id == run_id
            )
        ).all()
    return {(q, p, s) for q, p, s in rows}


def test_mine_the_sample(sample_store: Engine, tmp_path: Path) -> None:
    cfg = sample_config(tmp_path)
    report = mine(sample_store, cfg, index_dir=tmp_path / "indexes")
    assert report.queries == 40 and report.products == 296 and not report.reused
    assert set(report.timings) >= {"bm25", "dense", "catalog", "negatives", "store"}
    # Every set is populated on the sample (its catalog was written to make channels disagree).
    assert all(
        report.counts[s] > 0
        for s in (
            "easy_positive",
            "hard_positive",
            "hard_negative",
            "token_negative",
            "random_negative",
        )
    ), report.counts
    assert set(report.overlap["jaccard"][40]) == {"bm25|dense", "bm25|catalog", "dense|catalog"}
    with sample_store.connect() as conn:
        lists = read_lists(conn, report.run_id)
        per_channel = dict(
            conn.execute(
                select(RankedList.channel, func.max(RankedList.length)).group_by(RankedList.channel)
            ).all()
        )
        run = conn.execute(select(Run.status, Run.counts).where(Run.id == report.run_id)).one()
    rows = list(retrievals(lists))
    assert len(lists) == 3 * report.queries  # one list per query and channel
    assert len(rows) == report.counts["retrievals_written"] > 0
    assert {rank for _, _, rank, _, _ in rows} == set(range(1, 41))
    for (_, _), (ids, scores) in lists.items():  # best first, no padding, no repeats
        assert (ids >= 0).all() and len(set(ids.tolist())) == len(ids)
        assert (np.diff(scores) <= 1e-6).all()
    assert per_channel["dense"] == 40  # the dense channel always fills its top-K
    assert max(per_channel.values()) <= cfg.mining.top_k
    assert run.status == "succeeded" and run.counts["report"]["counts"] == report.counts
    for name in ("bm25", "dense", "catalog"):
        assert (tmp_path / "indexes" / name / "channel.json").exists() or any(
            (tmp_path / "indexes" / name).iterdir()
        )
    # Sets are disjoint per pair and token/random negatives were retrieved by no channel.
    with sample_store.connect() as conn:
        retrieved = {(q, p) for q, _, _, p, _ in retrievals(read_lists(conn, report.run_id))}
    for q, p, s in candidate_rows(sample_store, report.run_id):
        if s in ("token_negative", "random_negative"):
            assert (q, p) not in retrieved


def test_mining_the_same_run_twice_changes_nothing(sample_store: Engine, tmp_path: Path) -> None:
    cfg = sample_config(tmp_path)
    first = mine(sample_store, cfg)
    before = table_counts(sample_store)
    again = mine(sample_store, cfg)
    assert again.reused and again.run_id == first.run_id and again.counts == first.counts
    assert table_counts(sample_store) == before


def test_a_crashed_run_resumes_without_duplicates(
    sample_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = sample_config(tmp_path)
    real_insert = mine_module.bulk_insert
    calls = {"n": 0}

    def failing_insert(conn, table, columns, rows, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:  # the third batch's ranked lists (2 inserts per batch)
            raise RuntimeError("simulated crash")
        return real_insert(conn, table, columns, rows, **kwargs)

    monkeypatch.setattr(mine_module, "bulk_insert", failing_insert)
    with pytest.raises(RuntimeError, match="simulated crash"):
        mine(sample_store, cfg)
    with sample_store.connect() as conn:
        status, run_id = conn.execute(select(Run.status, Run.id).where(Run.flow == "mine")).one()
        assert status == "failed"  # a kill leaves it "running"; both resume
    partial = candidate_rows(sample_store, run_id)
    assert 0 < len({q for q, _, _ in partial}) == 16  # two batches of 8 queries were written

    monkeypatch.setattr(mine_module, "bulk_insert", real_insert)
    resumed = mine(sample_store, cfg)
    assert resumed.run_id == run_id and not resumed.reused
    assert len({q for q, _, _ in candidate_rows(sample_store, run_id)}) == 40

    # The resumed run holds exactly what an uninterrupted run writes. (Same database type:
    # the catalog channel's full-text scores differ between FTS5 and tsvector.)
    resumed_rows = candidate_rows(sample_store, run_id)
    with sample_store.connect() as conn:
        resumed_lists = sorted(retrievals(read_lists(conn, run_id)))
    with sample_store.begin() as conn:
        for table in (Candidate, RankedList):
            conn.execute(delete(table).where(table.run_id == run_id))
        conn.execute(delete(Run).where(Run.id == run_id))
    clean_cfg = sample_config(tmp_path / "clean")
    monkeypatch.setattr(mine_module, "WRITE_BATCH", 40)  # another batching: the same result
    clean = mine(sample_store, clean_cfg)
    assert not clean.reused
    assert candidate_rows(sample_store, clean.run_id) == resumed_rows
    with sample_store.connect() as conn:
        assert sorted(retrievals(read_lists(conn, clean.run_id))) == resumed_lists


def test_a_run_whose_queries_have_no_candidates_resumes(
    sample_store: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One channel and no sampled negatives: every query gets its (possibly empty) ranked list
    # and no candidate, so "written" cannot mean "has candidates" when a run resumes.
    cfg = sample_config(tmp_path)
    cfg.mining.channels = ["bm25"]
    cfg.mining.token_negatives = cfg.mining.random_negatives = 0
    real_insert = mine_module.bulk_insert
    calls = {"n": 0}

    def failing_insert(conn, table, columns, rows, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 5:  # the third batch
            raise RuntimeError("simulated crash")
        return real_insert(conn, table, columns, rows, **kwargs)

    monkeypatch.setattr(mine_module, "bulk_insert", failing_insert)
    with pytest.raises(RuntimeError, match="simulated crash"):
        mine(sample_store, cfg)
    monkeypatch.setattr(mine_module, "bulk_insert", real_insert)
    resumed = mine(sample_store, cfg)
    assert not resumed.reused
    assert candidate_rows(sample_store, resumed.run_id) == set()
    with sample_store.connect() as conn:
        lists = read_lists(conn, resumed.run_id)
    assert len(lists) == 40 and {channel for _, channel in lists} == {"bm25"}
