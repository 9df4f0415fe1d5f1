"""Fixtures for the annotator: the packaged Gemma GGUF and a real llama.cpp OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert

from annotator.backends.base import Pair
from store.db import open_store
from store.schema import Product, Query


def tiny_store(path: Path, query: str, product_ids: list[int]) -> Engine:
    """A SQLite store holding query 1 (``query``) and products ``product_ids`` (hash ``h<id>``)."""
    engine = open_store(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(insert(Query), [{"id": 1, "external_id": "q1", "text": query}])
        conn.execute(
            insert(Product),
            [
                {
                    "id": i,
                    "external_id": f"p{i}",
                    "title": f"product {i}",
                    "content_hash": f"h{i}",
                    "attributes": {},
                    "raw": {},
                }
                for i in product_ids
            ],
        )
    return engine


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
