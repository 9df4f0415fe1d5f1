"""Fixtures for the annotator: the packaged Gemma GGUF and a real llama.cpp OpenAI server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from annotator.backends.base import Pair

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
