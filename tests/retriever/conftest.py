"""Fixtures: the curriculum's hand-built store exported to disk, human labels added by hand,
and a stand-in model whose embeddings are fixed vectors (for losses computed by hand).

The retriever tests run on SQLite only: what they exercise of the store (reading labels and
products, recording runs) is covered on PostgreSQL by tests/store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import torch
from sqlalchemy import Engine, insert

from curriculum.build import build_curriculum
from curriculum.export import export_curriculum
from flows.config import PipelineConfig
from store.schema import HumanLabel
from tests.curriculum.conftest import HandStore, hand_store

__all__ = ["HandStore", "Lookup", "hand_store", "label_by_hand"]


@pytest.fixture
def engine(sqlite_engine: Engine) -> Iterator[Engine]:
    yield sqlite_engine


@pytest.fixture
def exported(hand_store: HandStore, tmp_path: Path) -> tuple[HandStore, PipelineConfig]:
    """The hand store's curriculum built and exported to ``tmp_path/export``: stage 1 holds 4
    rows (2 positives), stage 2 two triplets, stage 3 four (no validation, no typos)."""
    cfg = PipelineConfig(workdir=tmp_path)
    cfg.curriculum.validation_fraction = 0.0
    cfg.curriculum.typo_rate = 0.0
    cfg.train.batch_size = 4
    build_curriculum(hand_store.engine, cfg)
    export_curriculum(hand_store.engine, cfg)
    return hand_store, cfg


def label_by_hand(store: HandStore, cfg: PipelineConfig) -> None:
    """Three relevant human labels (q1: p1, p2; q2: p11), every query in tier training."""
    cfg.splits.fractions = (1.0, 0.0, 0.0, 0.0)
    with store.engine.begin() as conn:
        for query, product in (("q1", "p1"), ("q1", "p2"), ("q2", "p11")):
            conn.execute(
                insert(HumanLabel).values(
                    query_id=store.query[query],
                    product_id=store.product[product],
                    grade=3,
                    raw_label="3",
                    source="hand",
                )
            )


class Lookup(torch.nn.Module):
    """A model whose embedding of each text is a fixed vector: ``tokenize`` looks them up,
    ``forward`` hands them back, so a loss can be computed by hand."""

    device = torch.device("cpu")

    def __init__(self, vectors: Mapping[str, Sequence[float]]) -> None:
        super().__init__()
        self.vectors = {text: torch.tensor(v, dtype=torch.float32) for text, v in vectors.items()}

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return {"x": torch.stack([self.vectors[t] for t in texts])}

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": features["x"]}
