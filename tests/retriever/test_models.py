"""The models an evaluation scores: checked folders, identities, the default set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import DissentError
from flows.config import PipelineConfig
from retriever.models import default_models, model_refs
from retriever.paths import check_writable_file, check_writable_folder


def _model(folder: Path, weights: str, meta: dict[str, object] | None = None) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_text(weights)
    if meta is not None:
        (folder / "dissent-train.json").write_text(json.dumps(meta))
    return folder


def test_a_model_is_identified_by_what_made_it(tmp_path: Path) -> None:
    trained = _model(tmp_path / "a", "w", {"identity": "abc", "train_run": 3, "recipe": "human"})
    same, other = _model(tmp_path / "b", "w"), _model(tmp_path / "c", "v")
    refs = model_refs({"human": trained, "b": same, "c": other})
    assert (refs[0].identity, refs[0].train_run, refs[0].recipe) == ("abc", 3, "human")
    assert refs[1].identity != refs[2].identity  # other weights, another identity
    assert model_refs({"again": same})[0].identity == refs[1].identity
    assert refs[1].record() == {
        "path": str(same),
        "identity": refs[1].identity,
        "train_run": None,
        "recipe": None,
    }


def test_a_folder_without_a_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DissentError, match=r"model x: .* holds no model"):
        model_refs({"x": tmp_path})
    (tmp_path / "f").write_text("")
    with pytest.raises(DissentError, match=r"model y: .* is a file, not a model folder"):
        model_refs({"y": tmp_path / "f"})


def test_the_default_models_are_the_base_and_every_finished_recipe(tmp_path: Path) -> None:
    cfg = PipelineConfig(workdir=tmp_path)
    models = tmp_path / "models"
    for name in ("staged", "human", "staged-inbatch"):
        _model(models / name / "final", "w", {"identity": name})
    _model(models / "mixed" / "final", "w")  # no dissent-train.json: unfinished
    found = default_models(cfg)
    assert list(found) == ["base", "human", "staged", "staged-inbatch"]
    assert found["human"] == str(models / "human" / "final")


def test_output_paths_are_checked_by_writing(tmp_path: Path) -> None:
    assert check_writable_folder(tmp_path / "new" / "deep", "x").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(DissentError, match=f"cannot write models to {tmp_path / 'file'}"):
        check_writable_folder(tmp_path / "file", "models")
    with pytest.raises(DissentError, match="it is a folder; name a file"):
        check_writable_file(tmp_path, "the report")


def test_nothing_to_evaluate_is_refused(tmp_path: Path) -> None:
    from retriever.evaluating import evaluate_models
    from store.db import open_store

    with pytest.raises(DissentError, match="no models to evaluate"):
        evaluate_models(open_store("sqlite://"), PipelineConfig(workdir=tmp_path), {})
