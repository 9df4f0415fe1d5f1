"""`dissent train` end to end on the hand store: every stage trains, saves and resumes; a model
trained on other data is trained again, never handed back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.ablations import TABLE
from curriculum.build import build_curriculum
from curriculum.export import export_curriculum
from flows.config import PipelineConfig
from retriever.recipes import recipe_stages
from retriever.training import train_recipes
from store.ledger import Flow, find_run, train_lineage
from tests.retriever.conftest import HandStore, label_by_hand

pytestmark = pytest.mark.slow


def test_every_curriculum_recipe_trains_saves_resumes_and_records_its_lineage(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported
    staged = train_recipes(store.engine, cfg, recipes=["staged"]).models[0]
    folder = Path(staged.model_dir).parent
    # a run killed after two stages resumes at the third
    progress = json.loads((folder / "progress.json").read_text())
    (folder / "progress.json").write_text(json.dumps({"done": progress["done"][:2]}))
    (folder / "final" / "dissent-train.json").unlink()
    again = train_recipes(store.engine, cfg, recipes=["staged"]).models[0]
    assert again.resumed_from == 2 and len(again.stages) == 3
    assert again.identity == staged.identity
    # the ablations share staged's first stages: copied, not trained again
    ablations = ["mixed", "staged-inbatch", "staged-masked", "staged+graded"]
    trained = train_recipes(store.engine, cfg, recipes=["staged", *ablations], table=TABLE)
    resumed = {r.recipe: r.resumed_from for r in trained.models}
    assert resumed == {
        "staged": 3,  # nothing changed: handed back as it is
        "mixed": 0,
        "staged-inbatch": 2,
        "staged-masked": 1,
        "staged+graded": 3,
    }
    run = find_run(store.engine, trained.run_id, Flow.TRAIN)
    assert run.status == "succeeded" and run.export_run_id is not None
    assert train_lineage(store.engine, run).export is not None
    assert set(run.counts["models"]) == {"staged", *ablations}
    for report in trained.models:
        final = Path(report.model_dir)
        assert (final / "model.safetensors").exists() and (final / "README.md").exists()
        meta = json.loads((final / "dissent-train.json").read_text())
        assert meta["recipe"] == report.recipe and meta["train_run"] == report.train_run
        assert meta["export_hash"] == run.parameters["export_hash"]
        assert meta["identity"] == run.counts["models"][report.recipe]["identity"]
        stages = recipe_stages(report.recipe, TABLE)
        assert [s["data"] for s in report.stages] == [s.data for s in stages]
        assert all(s["examples"] > 0 for s in report.stages)
    assert trained.models[0].train_run != trained.run_id  # staged was made by the run before
    # another export (other examples) in the same models folder: trained again from the start
    cfg.curriculum.typo_rate = 1.0  # a noisy copy of every query: more rows
    build_curriculum(store.engine, cfg)
    export_curriculum(store.engine, cfg, output_dir=cfg.workdir / "other")
    other = train_recipes(store.engine, cfg, recipes=["staged"], export_dir=cfg.workdir / "other")
    assert other.models[0].resumed_from == 0 and other.models[0].identity != staged.identity


def test_human_recipes_train_on_the_human_sample(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported
    label_by_hand(store, cfg)
    cfg.train.max_examples_per_stage = 2
    trained = train_recipes(store.engine, cfg, recipes=["human-hardneg", "human+mixed"])
    hardneg, mixed = trained.models
    assert [(s["data"], s["examples"]) for s in hardneg.stages] == [("human_hardneg", 2)]
    card = (Path(hardneg.model_dir) / "README.md").read_text()
    assert "Mined negatives per human pair: up to 1" in card
    # 2 human pairs and 2 of the 8 mixed triplets, each source capped on its own
    assert [(s["data"], s["examples"]) for s in mixed.stages] == [("human+mixed", 4)]
