"""One precision decision for every model, and the working folder's layout."""

from __future__ import annotations

from pathlib import Path

import pytest

import core.precision as precision
from core.paths import Workdir


def test_explicit_settings_are_kept_whatever_the_hardware() -> None:
    assert precision.resolve_precision("float32", "cuda") == "float32"
    assert precision.resolve_precision("bfloat16", "cpu") == "bfloat16"


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_auto_follows_the_cpu(native: bool, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: native)
    assert precision.resolve_precision("auto", "cpu") == expected


def test_auto_on_a_gpu_asks_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(precision, "_gpu_has_bf16", lambda: False)
    assert precision.resolve_precision("auto", "cuda:1") == "float32"


def test_anything_else_is_refused() -> None:
    with pytest.raises(ValueError, match="auto, float32 or bfloat16"):
        precision.resolve_precision("fp16")


def test_the_working_folder_layout() -> None:
    work = Workdir(Path("w"))
    assert work.store_db == Path("w/dissent.db")
    assert work.tier1_model == Path("w/models/tier1-cross-encoder")
    assert work.embedding_cache == Path("w/cache/embeddings")
    assert work.evaluation_report == Path("w/reports/evaluation.json")
