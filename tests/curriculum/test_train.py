"""`dissent train`: every recipe trains through its stages, saves, resumes; batches and losses."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from core.errors import DissentError
from curriculum.build import build_curriculum
from curriculum.export import export_curriculum
from curriculum.losses import MaskedMultipleNegativesRankingLoss, graded_odds_ratio_loss
from curriculum.train import (
    _batches_by_width,
    _export_negatives,
    _human_rows,
    _mixed_rows,
    _rows,
    _unique_batches,
    recipe_stages,
    train_recipes,
    with_hard_negatives,
)
from flows.config import PipelineConfig
from store.schema import HumanLabel
from tests.curriculum.conftest import HandStore


def test_unique_batches_never_repeat_a_text_and_keep_every_row() -> None:
    rows = [("q1", f"p{i}", "n1") for i in range(5)] + [("q2", "p9", "n2"), ("q3", "p8", "n3")]
    batches = _unique_batches(rows, 3, random.Random(0))
    assert sorted(r for b in batches for r in b) == sorted(rows)
    for batch in batches:
        texts = [t for row in batch for t in row]
        assert len(texts) == len(set(texts)), batch
    # q1 appears in five rows: they need five batches
    assert len(batches) == 5


def test_recipes_list_their_stages_in_order() -> None:
    assert [s.data for s in recipe_stages("staged")] == [
        "stage1_bce",
        "stage2_mnr",
        "stage3_triplet",
    ]
    assert [s.loss for s in recipe_stages("staged-masked")] == ["bce", "masked_mnr", "triplet"]
    assert recipe_stages("human+staged")[0].data == "human"
    assert recipe_stages("staged+graded")[-1].loss == "graded"
    # the same stages as `staged`, but stage 3's triplets under MNR
    inbatch = recipe_stages("staged-inbatch")
    assert [s.data for s in inbatch] == [s.data for s in recipe_stages("staged")]
    assert [s.loss for s in inbatch] == ["bce", "mnr", "mnr"]
    assert [(s.data, s.loss) for s in recipe_stages("human+mixed")] == [("human+mixed", "mnr")]
    assert [(s.data, s.loss) for s in recipe_stages("human+staged-inbatch")] == [
        ("human", "mnr"),
        *((s.data, s.loss) for s in inbatch),
    ]
    assert [(s.data, s.loss) for s in recipe_stages("human-hardneg")] == [("human_hardneg", "mnr")]
    assert [s.loss for s in recipe_stages("human-hardneg-masked")] == ["masked_mnr"]


def test_hard_negatives_never_take_a_positive_of_the_same_query() -> None:
    pairs = [("q1", "p1"), ("q1", "p2"), ("q2", "p3"), ("q3", "p4")]
    # p2 is a curriculum negative of q1 but a human positive of q1: never its negative
    negatives = {"q1": ["p2", "n1", "n2"], "q2": ["p1"], "q3": ["p4"]}
    rows = with_hard_negatives(pairs, negatives, random.Random(0))
    assert [r[:2] for r in rows] == pairs  # same positives, same order
    assert {r[2] for r in rows[:2]} <= {"n1", "n2"}
    assert rows[2] == ("q2", "p3", "p1")  # another query's positive is a fine negative here
    assert rows[3] == ("q3", "p4")  # no negative left: the pair stays a pair
    # a sample of the human pairs: a relevant product left out of it is still no negative
    sampled = with_hard_negatives(pairs[:1], negatives, random.Random(0), 3, relevant=pairs)
    assert sampled[0][0] == "q1" and sorted(sampled[0][2:]) == ["n1", "n2"]
    # two per pair where there are two; one draw of one is the same as before
    two = with_hard_negatives(pairs, negatives, random.Random(0), count=2)
    assert sorted(two[0][2:]) == ["n1", "n2"] and two[2] == rows[2] and two[3] == rows[3]
    many = {"q1": [f"n{i}" for i in range(40)]}  # one draw: what rng.choice draws (reruns agree)
    assert with_hard_negatives([("q1", "p1")], many, random.Random(5)) == [
        ("q1", "p1", random.Random(5).choice(many["q1"]))
    ]


def test_pairs_and_triplets_are_batched_apart_and_shuffled_together() -> None:
    pairs = [(f"q{i}", f"p{i}") for i in range(6)]
    triplets = [(f"a{i}", f"b{i}", f"c{i}") for i in range(6)]
    batches = _batches_by_width(pairs + triplets, 2, random.Random(0), _unique_batches)
    assert sorted(r for b in batches for r in b) == sorted(pairs + triplets)
    assert all(len({len(row) for row in batch}) == 1 for batch in batches)
    widths = [len(batch[0]) for batch in batches]
    assert widths != sorted(widths) and widths != sorted(widths, reverse=True)  # interleaved
    # one width: exactly the batcher's own batches
    assert _batches_by_width(pairs, 2, random.Random(1), _unique_batches) == _unique_batches(
        pairs, 2, random.Random(1)
    )


def test_the_false_negative_mask_drops_only_candidates_above_the_positive() -> None:
    class Echo(torch.nn.Module):  # "embeddings" are the features themselves
        def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {"sentence_embedding": features["x"]}

    loss = MaskedMultipleNegativesRankingLoss(Echo(), scale=1.0, margin=0.1)
    anchors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    positives = torch.tensor([[0.6, 0.8], [1.0, 0.0]])
    # cosines: anchor 0 -> its positive .6, the other 1.0 (beats it by .4 > .1: masked);
    # anchor 1 -> its positive 0.0, the other .8 (masked too): each row keeps only its
    # positive, so the loss is 0
    masked = loss([{"x": anchors}, {"x": positives}], torch.zeros(2))
    assert float(masked) == pytest.approx(0.0, abs=1e-6)
    unmasked = MaskedMultipleNegativesRankingLoss(Echo(), scale=1.0, margin=10.0)
    assert float(unmasked([{"x": anchors}, {"x": positives}], torch.zeros(2))) > 0.5


def test_the_graded_odds_ratio_prefers_the_human_order() -> None:
    sims = torch.tensor([[0.9, 0.6, 0.3, 0.0]])
    right = graded_odds_ratio_loss(sims, torch.tensor([[3, 2, 1, 0]]))
    wrong = graded_odds_ratio_loss(sims, torch.tensor([[0, 1, 2, 3]]))
    assert float(right) < float(wrong)
    assert float(graded_odds_ratio_loss(sims, torch.full((1, 4), -1))) == 0.0


@pytest.fixture
def exported(hand_store: HandStore, tmp_path: Path) -> tuple[HandStore, PipelineConfig]:
    cfg = PipelineConfig(workdir=tmp_path)
    cfg.curriculum.validation_fraction = 0.0
    cfg.curriculum.typo_rate = 0.0
    cfg.train.batch_size = 4
    build_curriculum(hand_store.engine, cfg)
    export_curriculum(hand_store.engine, cfg)
    return hand_store, cfg


def test_mixed_holds_the_same_examples_as_the_stages(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    _, cfg = exported
    rows = _mixed_rows(cfg.workdir / "export", random.Random(0))
    # 2 stage-2 + 4 stage-3 triplets, and the 2 stage-1 positives each with a negative
    assert len(rows) == 8 and all(len(r) == 3 for r in rows)


@pytest.mark.slow
def test_every_curriculum_recipe_trains_saves_and_resumes(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported
    recipes = ["staged", "mixed", "staged-inbatch", "staged-masked", "staged+graded"]
    reports = train_recipes(store.engine, cfg, recipes=recipes)  # type: ignore[arg-type]
    for report in reports:
        final = Path(report.model_dir)
        assert (final / "model.safetensors").exists() and (final / "README.md").exists()
        meta = json.loads((final / "dissent-train.json").read_text())
        assert meta["curriculum_run"] is not None and meta["recipe"] == report.recipe
        assert [s["data"] for s in report.stages] == [
            s.data
            for s in recipe_stages(report.recipe)  # type: ignore[arg-type]
        ]
        assert all(s["examples"] > 0 for s in report.stages)
    # a run killed after two stages resumes at the third
    staged = Path(reports[0].model_dir).parent
    progress = json.loads((staged / "progress.json").read_text())
    (staged / "progress.json").write_text(json.dumps({"done": progress["done"][:2]}))
    again = train_recipes(store.engine, cfg, recipes=["staged"])[0]
    assert again.resumed_from == 2 and len(again.stages) == 3


def _label_by_hand(store: HandStore, cfg: PipelineConfig) -> None:
    """Three relevant human labels (q1: p1, p2; q2: p11), every query in tier training."""
    cfg.splits.fractions = (1.0, 0.0, 0.0, 0.0)
    with store.engine.begin() as conn:
        for query, product in (("q1", "p1"), ("q1", "p2"), ("q2", "p11")):
            conn.execute(
                HumanLabel.__table__.insert().values(
                    query_id=store.query[query],
                    product_id=store.product[product],
                    grade=3,
                    raw_label="3",
                    source="hand",
                )
            )


@pytest.mark.slow
def test_human_plus_mixed_trains_on_both_sources_each_capped(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported
    _label_by_hand(store, cfg)
    cfg.train.max_examples_per_stage = 3  # 3 human pairs and 3 of the 8 mixed triplets
    report = train_recipes(store.engine, cfg, recipes=["human+mixed"])[0]
    assert [(s["data"], s["examples"]) for s in report.stages] == [("human+mixed", 6)]
    assert (Path(report.model_dir) / "model.safetensors").exists()


@pytest.mark.slow
def test_human_hardneg_keeps_humans_sample_and_adds_curriculum_negatives(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported
    _label_by_hand(store, cfg)
    cfg.train.max_examples_per_stage = 2
    human = _rows(recipe_stages("human")[0], store.engine, cfg, cfg.workdir / "export", 7)
    hard = _rows(recipe_stages("human-hardneg")[0], store.engine, cfg, cfg.workdir / "export", 7)
    assert [r[:2] for r in hard] == human  # the same seeded sample of human pairs
    negatives = _export_negatives(cfg.workdir / "export")
    relevant = set(_human_rows(store.engine, cfg))  # all three, not only the sampled two
    assert len(relevant) == 3
    for row in hard:
        if len(row) == 3:
            assert row[2] in negatives[row[0]]
            assert (row[0], row[2]) not in relevant  # never a human-relevant product
    assert any(len(row) == 3 for row in hard)
    report = train_recipes(store.engine, cfg, recipes=["human-hardneg"])[0]
    assert [(s["data"], s["examples"]) for s in report.stages] == [("human_hardneg", 2)]
    card = (Path(report.model_dir) / "README.md").read_text()
    assert "Mined negatives per human pair: up to 1" in card


def test_a_recipe_without_data_is_a_clear_error(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported  # the hand-built store has no human labels
    with pytest.raises(DissentError, match="stage human has no training examples"):
        train_recipes(store.engine, cfg, recipes=["human"])
    with pytest.raises(DissentError, match="stage human has no training examples"):
        train_recipes(store.engine, cfg, recipes=["human+mixed"])


def test_the_triplet_stage_stops_pushing_once_the_margin_holds() -> None:
    """Stage 3 uses cosine distance: a triplet whose positive beats its negative by more than
    ``train.triplet_margin`` adds no loss (the Euclidean default, margin 5, never stops on
    unit-length embeddings)."""
    from sentence_transformers import SentenceTransformer

    from core.models import default_model_path
    from curriculum.config import TrainConfig
    from curriculum.train import _loss

    model = SentenceTransformer(str(default_model_path()), device="cpu", local_files_only=True)
    easy = [("cordless drill", "cordless drill", "bath towel")]  # cosines 1.0 against ~0.1
    assert float(_loss("triplet", model, TrainConfig())(model, easy)) == 0.0
    hard = [("cordless drill", "bath towel", "cordless drill")]  # the wrong way round
    assert float(_loss("triplet", model, TrainConfig())(model, hard)) > 0.5
    tight = TrainConfig(triplet_margin=2.0)  # wider than any cosine gap: always active
    assert float(_loss("triplet", model, tight)(model, easy)) > 0.0
