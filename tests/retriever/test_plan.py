"""Plans: every stage's rows and key before a model loads; only stages trained on the same
data with the same settings are resumed; a final model with another identity is not reused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flows.config import PipelineConfig
from retriever.plan import finished_model, plan_recipe, read_progress, resume_point, write_progress
from retriever.recipes import recipe_stages
from retriever.rows import RowSource
from retriever.source import open_export
from tests.retriever.conftest import HandStore, label_by_hand

SETTINGS = {"base_model": "/models/base", "epochs": 1, "seed": 0}


def _plan(
    exported: tuple[HandStore, PipelineConfig], recipe: str, settings: dict[str, Any] = SETTINGS
) -> list[Any]:
    store, cfg = exported
    source = RowSource(store.engine, cfg, open_export(cfg.workdir / "export"))
    folder = cfg.workdir / "models" / recipe
    return plan_recipe(recipe, recipe_stages(recipe), source, folder, settings, 1)


def _trained(planned: list[Any], upto: int) -> list[dict[str, Any]]:
    """Pretend stages 1..upto were trained: their folders exist and progress.json lists them."""
    done = []
    for stage in planned[:upto]:
        stage.path.mkdir(parents=True)
        (stage.path / "model.safetensors").write_text(stage.key)
        done.append({"data": stage.stage.data, "key": stage.key, "path": str(stage.path)})
    write_progress(planned[0].path.parent, done)
    return done


def test_keys_chain_settings_data_and_stages(exported: tuple[HandStore, PipelineConfig]) -> None:
    staged = _plan(exported, "staged")
    assert [s.number for s in staged] == [1, 2, 3]
    assert [len(s.rows) for s in staged] == [4, 2, 4]
    assert staged[2].path.name == "stage-3-stage3_triplet"
    assert len({s.key for s in staged}) == 3
    assert [s.key for s in _plan(exported, "staged")] == [s.key for s in staged]  # seeded
    # other settings change every key; the same first stage in another recipe keeps its key
    other = _plan(exported, "staged", {**SETTINGS, "epochs": 2})
    assert not {s.key for s in other} & {s.key for s in staged}
    # the same stage after another one starts from another model: another key
    label_by_hand(*exported)
    human_first = _plan(exported, "human+staged")
    assert human_first[1].stage == staged[0].stage and human_first[1].key != staged[0].key


def test_only_stages_with_the_planned_keys_resume(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    planned = _plan(exported, "staged")
    folder = planned[0].path.parent
    done = _trained(planned, 2)
    assert resume_point(planned, folder) == done
    # a folder trained on other settings (so other keys) resumes nothing
    assert resume_point(_plan(exported, "staged", {**SETTINGS, "seed": 1}), folder) == []
    # a stage whose folder is gone ends the resumable prefix there
    (planned[1].path / "model.safetensors").unlink()
    planned[1].path.rmdir()
    assert resume_point(planned, folder) == done[:1]
    # progress.json of an older version (no keys) resumes nothing
    write_progress(folder, [{k: v for k, v in d.items() if k != "key"} for d in done])
    assert resume_point(planned, folder) == []
    (folder / "progress.json").write_text("not json")
    assert read_progress(folder) == []


def test_a_stage_another_recipe_trained_is_copied(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    staged = _plan(exported, "staged")
    _trained(staged, 3)
    inbatch = [*staged[:2]]  # the same first two stages, planned under another recipe
    target = staged[0].path.parent.parent / "staged-inbatch"
    moved = [type(s)(s.number, s.stage, s.rows, s.key, target / s.path.name) for s in inbatch]
    done = resume_point(moved, target)
    assert [d["copied_from"] for d in done] == [str(s.path) for s in staged[:2]]
    assert (moved[1].path / "model.safetensors").read_text() == staged[1].key


def test_a_final_model_is_handed_back_only_with_the_same_identity(tmp_path: Path) -> None:
    final = tmp_path / "final"
    final.mkdir()
    assert finished_model(final, "abc") is None  # no dissent-train.json: incomplete
    (final / "dissent-train.json").write_text(json.dumps({"identity": "abc", "stages": []}))
    assert finished_model(final, "abc") == {"identity": "abc", "stages": []}
    assert finished_model(final, "other export") is None
