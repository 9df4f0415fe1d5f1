"""Tier 1: the cross-encoder, fine-tuned offline from the packaged MiniLM weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr
from sqlalchemy import Engine

from annotator.backends.cross_encoder import CrossEncoderBackend, pair_text, train_cross_encoder
from annotator.pairs import LabelledPair, labelled_pairs
from core.errors import DissentError
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from prompts import load_prompt
from store.db import open_store
from tests.conftest import SAMPLE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sample_labels(tmp_path_factory: pytest.TempPathFactory) -> list[LabelledPair]:
    engine: Engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('ce') / 's.db'}")
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return labelled_pairs(engine, (0.5, 0.25, 0.25))


@pytest.fixture(scope="module")
def trained(sample_labels: list[LabelledPair], tmp_path_factory: pytest.TempPathFactory) -> Path:
    train = [lp for lp in sample_labels if lp.split == "train"]
    return train_cross_encoder(
        [(lp.pair.query, lp.pair.product, lp.grade) for lp in train],
        tmp_path_factory.mktemp("tier1") / "model",
        epochs=6,
        batch_size=16,
        learning_rate=1e-4,
        seed=0,
    )


def test_pair_text_carries_the_structured_fields() -> None:
    text = pair_text(
        {
            "title": "Drill",
            "brand": "DEWALT",
            "product_type": "Cordless Drill",
            "attributes": {"voltage": "20V"},
        }
    )
    assert text == "Drill | brand: DEWALT | product type: Cordless Drill | voltage: 20V"


def test_trained_tier_grades_with_four_way_distributions(
    trained: Path, sample_labels: list[LabelledPair]
) -> None:
    backend = CrossEncoderBackend(trained)
    train = [lp for lp in sample_labels if lp.split == "train"]
    answers = backend.grade([lp.pair for lp in train], load_prompt())
    dists = np.array([a.distribution for a in answers])
    assert dists.shape == (len(train), 4)
    np.testing.assert_allclose(dists.sum(axis=1), 1.0, atol=1e-5)
    assert all(a.ok and a.tokens_in > 5 for a in answers)
    # It learned something from its own training pairs: better than always answering the
    # most common grade (a weak bar, but one an untrained or broken head fails).
    human = np.array([lp.grade for lp in train])
    majority = np.bincount(human, minlength=4).max() / len(human)
    assert (dists.argmax(axis=1) == human).mean() > majority
    # and its expected grade orders the pairs as the humans do
    expected = dists @ np.arange(4)
    assert spearmanr(expected, human).statistic > 0.3
    assert backend.model_id == "cross_encoder:model"


def test_an_untrained_tier_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DissentError, match="train tier 1 first"):
        CrossEncoderBackend(tmp_path / "nothing-here")


def test_training_refuses_empty_or_bad_examples(tmp_path: Path) -> None:
    with pytest.raises(DissentError, match="no training examples"):
        train_cross_encoder([], tmp_path)
    with pytest.raises(DissentError, match="grades must be 0-3"):
        train_cross_encoder([("q", {"title": "t"}, 5)], tmp_path)
