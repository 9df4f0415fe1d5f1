"""The export as the retriever reads it: checked before any work, hashed by content."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import DissentError
from flows.config import PipelineConfig
from retriever.source import open_export
from tests.retriever.conftest import HandStore


def test_a_missing_or_foreign_folder_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DissentError, match=r"no curriculum export at /nonexistent: the folder"):
        open_export(Path("/nonexistent"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(DissentError, match="is a file, not a folder"):
        open_export(tmp_path / "file")
    with pytest.raises(DissentError, match=r"is no curriculum export \(it has no manifest.json"):
        open_export(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(DissentError, match=r"cannot read .*manifest.json"):
        open_export(tmp_path)


def test_the_export_is_read_and_hashed_by_content(
    exported: tuple[HandStore, PipelineConfig], tmp_path: Path
) -> None:
    _, cfg = exported
    export = open_export(cfg.workdir / "export", needs=["stage1_bce", "graded"])
    assert export.curriculum_run is not None
    assert len(export.rows("stage2_mnr")) == 2 and len(export.rows("stage2_mnr")[0]) == 3
    # a copy elsewhere is the same content; one dataset less is not
    copy = shutil.copytree(export.path, tmp_path / "copy")
    assert open_export(copy).content_hash == export.content_hash
    shutil.rmtree(copy / "stage3_triplet")
    assert open_export(copy).content_hash != export.content_hash
    with pytest.raises(DissentError, match="no stage3_triplet dataset in"):
        open_export(copy, needs=["stage2_mnr", "stage3_triplet"])
