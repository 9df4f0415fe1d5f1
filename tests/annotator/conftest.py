"""Fixtures for the annotator: the packaged Gemma GGUF, a real llama.cpp OpenAI server, and
the shipped sample trained and calibrated with the offline default tiers (for
test_calibrating.py and test_annotating.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from annotator.backends.base import Pair
from annotator.outcome import CalibrationOutcome
from flows.config import PipelineConfig, load_config
from store.db import open_store
from store.schema import Product, Query
from tests.conftest import ROOT, SAMPLE

EVAL_PAIRS = 16  # every tier calibrates and tests on at most this many pairs per split


def store_of(
    path: Path, queries: dict[int, str], product_ids: list[int], title: str = "product {}"
) -> Engine:
    """A SQLite store holding ``queries`` (id -> text) and products ``product_ids`` (external id
    ``p<id>``, title ``title.format(id)``, hash ``h<id>``)."""
    engine = open_store(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(
            insert(Query),
            [{"id": q, "external_id": f"q{q}", "text": t} for q, t in queries.items()],
        )
        conn.execute(
            insert(Product),
            [
                {
                    "id": i,
                    "external_id": f"p{i}",
                    "title": title.format(i),
                    "content_hash": f"h{i}",
                    "attributes": {},
                    "raw": {},
                }
                for i in product_ids
            ],
        )
    return engine


def tiny_store(path: Path, query: str, product_ids: list[int]) -> Engine:
    """A SQLite store holding query 1 (``query``) and products ``product_ids`` (hash ``h<id>``)."""
    return store_of(path, {1: query}, product_ids)


PAIRS = [
    Pair(
        1,
        11,
        "h11",
        "cordless drill",
        {
            "title": "DEWALT 20V MAX Cordless Drill/Driver Kit",
            "brand": "DEWALT",
            "product_type": "Cordless Drill",
        },
    ),
    Pair(
        1,
        12,
        "h12",
        "cordless drill",
        {
            "title": "Glacier Bay Chrome Kitchen Faucet",
            "brand": "Glacier Bay",
            "product_type": "Faucet",
        },
    ),
    Pair(
        2,
        13,
        "h13",
        "garden hose",
        {"title": "Flexzilla 50 ft. x 5/8 in. Garden Hose", "attributes": {"length": "50 ft"}},
    ),
]


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python (extra `llm`) is not installed")
    from annotator.backends.llama_cpp import default_gguf_path

    return default_gguf_path()


@pytest.fixture(scope="session")
def llama_server(gemma_path: Path) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with the Gemma model on 127.0.0.1."""
    from annotator.backends.llama_server import start_llama_server

    process, url = start_llama_server(gemma_path)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="package")
def sample_config(tmp_path_factory: pytest.TempPathFactory) -> PipelineConfig:
    """configs/sample.yaml on a store of its own, every tier capped at EVAL_PAIRS pairs."""
    workdir = tmp_path_factory.mktemp("annotator-sample")
    cfg = load_config(ROOT / "configs/sample.yaml", environ={})
    cfg.workdir = workdir
    cfg.store.url = f"sqlite:///{workdir / 'store.db'}"
    for tier in cfg.annotation.tiers:
        tier.max_eval_pairs = EVAL_PAIRS
    cfg.annotation.injection_pairs = 2
    cfg.annotation.random_pairs = 24
    cfg.annotation.max_random_relevant = 1.0  # two epochs on ~150 pairs; the gate has its tests
    return cfg


@pytest.fixture(scope="package")
def sample_store(sample_config: PipelineConfig) -> Engine:
    """The sample ingested and mined, tier 1 trained for two epochs."""
    from annotator.training import train_tier1
    from ingest import ingest_dataset
    from ingest.mapping import load_mapping
    from miners.mine import mine

    engine = open_store(sample_config.store_url)
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    mine(engine, sample_config)
    train_tier1(engine, sample_config, epochs=2)
    return engine


@pytest.fixture(scope="package")
def calibrated(
    sample_store: Engine, sample_config: PipelineConfig
) -> tuple[CalibrationOutcome, dict[str, Path]]:
    """The default three tiers calibrated on the sample (the report written)."""
    from annotator.calibrating import calibrate

    return calibrate(sample_store, sample_config)
