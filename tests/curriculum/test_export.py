"""`dissent export`: datasets that load back, Parquet, the card, and one training step each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk

from core.errors import DissentError
from curriculum.build import build_curriculum
from curriculum.export import _replacing, export_curriculum, push_to_hub
from flows.config import PipelineConfig
from tests.curriculum.conftest import HandStore


@pytest.fixture
def exported(hand_store: HandStore, tmp_path: Path) -> Path:
    cfg = PipelineConfig(workdir=tmp_path)
    cfg.curriculum.validation_fraction = 0.0
    cfg.curriculum.typo_rate = 0.0
    build_curriculum(hand_store.engine, cfg)
    report = export_curriculum(hand_store.engine, cfg)
    assert Path(report.output_dir) == (tmp_path / "export").resolve()
    return Path(report.output_dir)


def test_every_stage_loads_back_with_the_loss_columns(exported: Path) -> None:
    stage1 = load_from_disk(str(exported / "stage1_bce"))
    assert list(stage1) == ["train", "validation"]
    assert stage1["train"].column_names == ["query", "product", "label"]
    assert sorted(zip(stage1["train"]["product"], stage1["train"]["label"], strict=True)) == [
        ("DEWALT 20V MAX Cordless Drill", 1.0),
        ("Flexzilla 50 ft. Garden Hose", 1.0),
        ("Glacier Bay Kitchen Faucet", 0.0),
        ("Interior Paint Satin White", 0.0),
    ]
    assert len(stage1["validation"]) == 0
    for name, rows in (("stage2_mnr", 2), ("stage3_triplet", 4)):
        data = load_from_disk(str(exported / name))
        assert data["train"].column_names == ["anchor", "positive", "negative"], name
        assert len(data["train"]) == rows, name
    mnr = load_from_disk(str(exported / "stage2_mnr"))["train"]
    assert "Ryobi ONE+ Cordless Drill Kit" in mnr["positive"]  # the promoted negative
    graded = load_from_disk(str(exported / "graded"))["train"]
    drill = graded[[q for q in graded["query"]].index("cordless drill")]
    assert drill["exact"] == ["DEWALT 20V MAX Cordless Drill", "Ryobi ONE+ Cordless Drill Kit"]
    assert drill["substitute"] == ["Makita 18V Cordless Drill Driver"]
    assert sorted(drill["complement"]) == [
        "Cordless Phone with Answering Machine",
        "Drill Chuck Key",
    ]
    assert sorted(drill["irrelevant"]) == [
        "Drill Bit Set 29 Piece",
        "Drill Press Stand",
        "Glacier Bay Kitchen Faucet",
    ]


def test_parquet_metadata_manifest_and_card(exported: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(exported / "parquet" / "stage2_mnr" / "train.parquet")
    assert table.num_rows == 2
    meta = pq.read_table(exported / "metadata" / "stage2_mnr" / "train.parquet").to_pylist()
    assert {m["level"] for m in meta} == {3} and not any(m["augmented"] for m in meta)
    manifest = json.loads((exported / "manifest.json").read_text())
    assert manifest["rows"]["stage1_bce"] == {"train": 4, "validation": 0}
    card = (exported / "README.md").read_text()
    assert card.startswith("---\n") and "config_name: stage2_mnr" in card
    assert "| 2 | hard positives | 2 |" in card
    assert "{'hard_negative': 1}" in card  # promoted negatives are reported
    assert "MultipleNegativesRankingLoss" in card


def test_a_new_export_replaces_the_old_one_whole(hand_store: HandStore, exported: Path) -> None:
    (exported / "stale.txt").write_text("from an older export")
    cfg = PipelineConfig(workdir=exported.parent)
    export_curriculum(hand_store.engine, cfg)
    assert not (exported / "stale.txt").exists()
    assert not list(exported.parent.glob(".export.*"))  # no staging directory left behind


def test_an_export_killed_between_its_renames_gets_its_previous_export_back(
    exported: Path,
) -> None:
    """Killed after moving the previous export aside and before moving the new one in: the
    next export puts the previous one back first, so a failure then still leaves it."""
    aside = exported.with_name(".export.old-4242")
    exported.rename(aside)
    (aside / "mark.txt").write_text("the previous export")
    with pytest.raises(RuntimeError, match="disk full"), _replacing(exported):
        raise RuntimeError("disk full")
    assert (exported / "mark.txt").read_text() == "the previous export"
    assert not list(exported.parent.glob(".export.*"))


def test_nothing_to_export_is_a_clear_error(engine: object, tmp_path: Path) -> None:
    with pytest.raises(DissentError, match="dissent curriculum build"):
        export_curriculum(engine, PipelineConfig(workdir=tmp_path))  # type: ignore[arg-type]


def test_push_without_a_token_or_network_fails_in_one_line(
    exported: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.delenv("HF_TOKEN", raising=False)
    # a token saved on this machine by `hf auth login` must not count
    monkeypatch.setattr(hub_constants, "HF_TOKEN_PATH", str(exported.parent / "no-token"))
    monkeypatch.setattr(hub_constants, "HF_STORED_TOKENS_PATH", str(exported.parent / "no-tokens"))
    with pytest.raises(DissentError, match="no token") as no_token:
        push_to_hub(exported, "someone/dissent-test")
    assert "\n" not in str(no_token.value)
    # a token but no reachable Hub: a real connection attempt to a closed local port
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(DissentError, match="cannot push") as offline:
        push_to_hub(exported, "someone/dissent-test", token="hf_not_a_real_token")
    assert "\n" not in str(offline.value)
    assert (exported / "README.md").exists()


@pytest.mark.slow
def test_each_stage_trains_one_step_with_its_loss(exported: Path, tmp_path: Path) -> None:
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer import losses

    from core.models import default_model_path
    from retriever.losses import BiEncoderBCELoss

    model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    before = model[0].auto_model.embeddings.word_embeddings.weight.detach().clone()
    for name, loss in (
        ("stage1_bce", BiEncoderBCELoss(model)),
        ("stage2_mnr", losses.MultipleNegativesRankingLoss(model)),
        (
            "stage3_triplet",
            losses.TripletLoss(model, distance_metric=losses.TripletDistanceMetric.COSINE),
        ),
    ):
        data = load_from_disk(str(exported / name))
        args = SentenceTransformerTrainingArguments(
            output_dir=str(tmp_path / name),
            max_steps=1,
            per_device_train_batch_size=4,
            learning_rate=1e-3,
            report_to="none",
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=data["train"], loss=loss
        )
        result = trainer.train()
        assert result.global_step == 1, name
        assert result.training_loss > 0, name
    after = model[0].auto_model.embeddings.word_embeddings.weight
    assert not after.detach().equal(before)  # the steps moved the weights


def test_the_card_gives_the_label_distribution(exported: Path) -> None:
    card = (exported / "README.md").read_text()
    # graded candidates of the hand-built table: grades 3,2,0,3,1,0,0,1 and 3,0,0
    assert "| 3 Exact | 3 | 27.3% |" in card
    assert "| 0 Irrelevant | 5 | 45.5% |" in card
