"""`train_recipes` refuses bad input before any model loads or any run is recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.errors import DissentError
from flows.config import PipelineConfig
from retriever import trainer
from retriever.training import TrainReport, train_recipes
from store.schema import Run
from tests.retriever.conftest import HandStore


@pytest.fixture(autouse=True)
def _no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: every refusal here comes before one is loaded."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(trainer, "load_model", refuse)


def _runs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(Run)).scalar_one())


def _refused(store: HandStore, cfg: PipelineConfig, match: str, **kwargs: Any) -> None:
    before = _runs(store.engine)
    with pytest.raises(DissentError, match=match):
        train_recipes(store.engine, cfg, **kwargs)
    assert _runs(store.engine) == before  # nothing recorded


def test_an_export_that_is_not_there_is_refused(
    exported: tuple[HandStore, PipelineConfig], tmp_path: Path
) -> None:
    store, cfg = exported
    missing = tmp_path / "nowhere"
    _refused(
        store, cfg, f"no curriculum export at {missing}", recipes=["mixed"], export_dir=missing
    )
    # named explicitly, it is checked even for a recipe that would not read it
    _refused(store, cfg, "no curriculum export at", recipes=["human"], export_dir=missing)
    cfg.export.output_dir = missing  # the default export
    _refused(store, cfg, "run `dissent export` first", recipes=["staged"])


def test_a_stage_with_nothing_to_train_is_refused(
    exported: tuple[HandStore, PipelineConfig],
) -> None:
    store, cfg = exported  # the hand-built store has no human labels
    _refused(store, cfg, "stage human has no training examples", recipes=["mixed", "human"])
    _refused(store, cfg, "stage human has no training examples", recipes=["human+mixed"])


def test_bad_names_and_folders_are_refused(
    exported: tuple[HandStore, PipelineConfig], tmp_path: Path
) -> None:
    store, cfg = exported
    _refused(store, cfg, "unknown recipe.s. staged-masked; choose from", recipes=["staged-masked"])
    cfg.train.base_model = str(tmp_path / "no-model")
    _refused(store, cfg, f"train.base_model: {tmp_path / 'no-model'} does not exist")
    cfg.train.base_model = None
    (tmp_path / "file").write_text("")
    _refused(store, cfg, "cannot write trained models to", output_dir=tmp_path / "file" / "models")


def test_the_report_says_what_each_recipe_did() -> None:
    from retriever.trainer import RecipeReport

    stage = {"data": "human", "examples": 1200, "seconds": 31.4}
    done = RecipeReport("human", "/m/human/final", "id", [stage], seconds=33.0, train_run=4)
    old = RecipeReport("mixed", "/m/mixed/final", "id2", [], resumed_from=1, train_run=2)
    report = TrainReport(4, "/w/export", "0123456789abcdef", [done, old])
    assert report.lines() == [
        "human: /m/human/final [human 1,200 (31 s)] in 33 s",
        "mixed: /m/mixed/final [] in 0 s; trained by run 2",
        "train run 4: export /w/export (0123456789ab)",
    ]
