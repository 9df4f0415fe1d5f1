"""Tier 1: the cross-encoder backend, trained offline from the packaged MiniLM weights
(annotator.trainer; the training set's own tests: test_training_data.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.stats import spearmanr
from sqlalchemy import Engine

from annotator.backends.base import Pair
from annotator.backends.cross_encoder import TIER_FILE, CrossEncoderBackend, pair_text
from annotator.base_models import resolve_base_model
from annotator.combiner import COMBINER_FILE, CombinerSettings, fit_combiner
from annotator.config import Tier1Training
from annotator.pairs import LabelledPair, labelled_pairs
from annotator.signals import CatalogStats
from annotator.trainer import TrainingResult, train_tier1_model
from annotator.training_data import training_set
from core.errors import DissentError
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from prompts import load_prompt
from store.db import open_store
from store.splits import SplitsConfig
from tests.annotator.test_combiner import synthetic_pairs
from tests.conftest import SAMPLE
from tests.flows.test_cli import run

pytestmark = pytest.mark.slow

SETTINGS = Tier1Training(  # min_dev_pairs=1: the sample's small dev slice still chooses here
    epochs=6,
    batch_size=16,
    learning_rate=1e-4,
    dev_fraction=0.2,
    min_dev_pairs=1,
    negative_share=0.3,
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, list[LabelledPair]]:
    engine: Engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('ce') / 's.db'}")
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return engine, labelled_pairs(engine, SplitsConfig(fractions=(0.5, 0.25, 0.25, 0.0)))


@pytest.fixture(scope="module")
def trained(
    sample: tuple[Engine, list[LabelledPair]], tmp_path_factory: pytest.TempPathFactory
) -> TrainingResult:
    engine, labels = sample
    data = training_set(engine, [lp for lp in labels if lp.split == "train"], SETTINGS)
    return train_tier1_model(data, tmp_path_factory.mktemp("tier1") / "model", SETTINGS)


def test_pair_text_carries_the_structured_fields() -> None:
    product = {
        "title": "Drill",
        "brand": "DEWALT",
        "product_type": "Cordless Drill",
        "attributes": {"voltage": "20V"},
        "description": "A drill for everything you drill into.",
    }
    assert (
        pair_text(product) == "Drill | brand: DEWALT | product type: Cordless Drill | voltage: 20V"
    )
    assert pair_text(product, ["title", "description"], 10) == "Drill | description: A drill fo"


def test_trained_tier_grades_with_four_way_distributions(
    trained: TrainingResult, sample: tuple[Engine, list[LabelledPair]]
) -> None:
    assert 1 <= trained.best_epoch <= trained.epochs_run <= 6
    assert len(trained.dev_qwk) == trained.epochs_run
    meta = json.loads((Path(trained.output_dir) / TIER_FILE).read_text())
    assert meta["fields"] == list(SETTINGS.fields) and meta["result"]["best_epoch"]
    backend = CrossEncoderBackend(trained.output_dir)
    assert not backend.loaded  # the weights load on the first grade, not before
    train = [lp for lp in sample[1] if lp.split == "train"]
    answers = backend.grade([lp.pair for lp in train], load_prompt())
    assert backend.loaded
    dists = np.array([a.distribution for a in answers])
    assert dists.shape == (len(train), 4)
    np.testing.assert_allclose(dists.sum(axis=1), 1.0, atol=1e-3)
    assert all(a.ok and a.tokens_in > 5 for a in answers)
    # It learned something from its own training pairs: better than always answering the
    # most common grade (a weak bar, but one an untrained or broken head fails).
    human = np.array([lp.grade for lp in train])
    majority = np.bincount(human, minlength=4).max() / len(human)
    assert (dists.argmax(axis=1) == human).mean() > majority
    expected = dists @ np.arange(4)
    assert spearmanr(expected, human).statistic > 0.3


def test_the_consistency_term_keeps_appended_words_from_moving_the_grade(
    sample: tuple[Engine, list[LabelledPair]], tmp_path: Path
) -> None:
    # A small BERT with MiniLM's vocabulary, initialised at random: it learns in seconds.
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(resolve_base_model(None, tmp_path, 0))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        num_labels=4,
    )
    BertForSequenceClassification(config).save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    engine, labels = sample
    quick = Tier1Training(
        base_model=str(tmp_path / "base"),
        epochs=3,
        batch_size=16,
        learning_rate=1e-3,
        dev_fraction=0.0,
        negative_share=0.3,
        injected_share=0.5,
        boilerplate_share=1.0,
    )
    data = training_set(engine, [lp for lp in labels if lp.split == "train"], quick)
    copies = [e for e in data.fit if e.clean is not None]
    pairs = [
        Pair(0, i, f"{i}:{k}", e.query, product)
        for i, e in enumerate(copies)
        for k, product in enumerate((e.product, e.clean or {}))
    ]

    def moved(weight: float) -> float:
        """How far the appended words move the expected grade, against its spread."""
        result = train_tier1_model(
            data,
            tmp_path / f"w{weight}",
            quick,
            consistency_weight=weight,
            combiner=CombinerSettings(signals=()),
        )
        answers = CrossEncoderBackend(result.output_dir).grade(pairs, load_prompt())
        expected = np.array([a.distribution for a in answers]) @ np.arange(4)
        return float(np.abs(expected[0::2] - expected[1::2]).mean() / expected.std())

    # The same examples and seed: only the term differs (measured: 0.31 without, 0.21 with).
    assert moved(20.0) < 0.8 * moved(0.0)


def test_the_model_id_is_the_weights_not_the_folder(
    trained: TrainingResult, sample: tuple[Engine, list[LabelledPair]], tmp_path: Path
) -> None:
    first = CrossEncoderBackend(trained.output_dir).model_id
    assert first.startswith("cross_encoder:model@") and len(first.split("@")[1]) == 16
    engine, labels = sample
    quick = SETTINGS.model_copy(update={"epochs": 1, "seed": 1, "dev_fraction": 0.0})
    data = training_set(engine, [lp for lp in labels if lp.split == "train"][:40], quick)
    retrained = train_tier1_model(data, tmp_path / "model", quick)
    assert CrossEncoderBackend(retrained.output_dir).model_id != first  # same folder name
    train_tier1_model(data, tmp_path / "model", quick)  # the same training again, same seed
    assert CrossEncoderBackend(retrained.output_dir).model_id != first


def test_a_saved_combiner_changes_the_answers_and_the_model_id(
    trained: TrainingResult, sample: tuple[Engine, list[LabelledPair]], tmp_path: Path
) -> None:
    # training fitted a combiner or said why not (the sample's dev slice is small)
    assert trained.combiner is not None and trained.combiner["reason"]
    plain = tmp_path / "plain"
    shutil.copytree(trained.output_dir, plain)
    (plain / COMBINER_FILE).unlink(missing_ok=True)
    combined = tmp_path / "combined"
    shutil.copytree(plain, combined)
    pairs = [lp.pair for lp in sample[1]]
    before = CrossEncoderBackend(plain)
    dists = np.array([a.distribution for a in before.grade(pairs, load_prompt())])
    # any fitted combiner applies to any pairs: one fitted where the signals carry the grade
    d, queries, products, grades = synthetic_pairs()
    stats = CatalogStats.from_titles(p.product["title"] for p in pairs)
    fit = fit_combiner(d, queries, products, grades, queries, signals=["lexical"], stats=stats)
    assert fit.combiner is not None, fit.reason
    fit.combiner.save(combined)
    after = CrossEncoderBackend(combined)
    assert after.model_id != before.model_id  # same weights, another model
    answers = after.grade(pairs, load_prompt())
    out = np.array([a.distribution for a in answers])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-6)
    expected = fit.combiner.apply(dists, [p.query for p in pairs], [p.product for p in pairs])
    np.testing.assert_allclose(out, expected, atol=1e-3)
    assert not np.allclose(out, dists, atol=1e-3)


def test_an_untrained_tier_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DissentError, match="train tier 1 first"):
        CrossEncoderBackend(tmp_path / "nothing-here")


def test_a_classifier_without_four_outputs_is_refused_before_loading(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}}))
    with pytest.raises(DissentError, match="has 2 outputs; need 4"):
        CrossEncoderBackend(tmp_path)


def test_train_tier_says_when_the_dev_slice_was_too_small(tmp_path: Path) -> None:
    # seed 3 puts two sample queries (10 pairs) in the 10% dev slice: fewer than min_dev_pairs
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                "workdir": str(tmp_path / "work"),
                "annotation": {"tier1_training": {"seed": 3, "epochs": 1}},
            }
        )
    )
    ingested = run("ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"), "-c", str(config))
    assert ingested.exit_code == 0, ingested.output
    done = run("annotate", "train-tier", "-c", str(config))
    assert done.exit_code == 0, done.output
    said = " ".join(done.stdout.split())
    assert "epoch 1 of 1 kept (dev QWK per epoch: no dev slice: its 10 pairs were too few" in said
    model = tmp_path / "work" / "models" / "tier1-cross-encoder"
    counts = json.loads((model / TIER_FILE).read_text())["result"]["counts"]
    assert counts["dev"] == 0 and counts["dev_folded_in"] == 10
