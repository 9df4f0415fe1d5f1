"""The ``train`` and ``evaluate`` flows are deployed, and their tasks call the library."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from core.errors import DissentError
from flows.config import PipelineConfig
from flows.retriever import evaluate_task, train_task
from tests.conftest import ROOT


def test_prefect_yaml_deploys_train_and_evaluate() -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    entries = {d["name"]: d["entrypoint"] for d in deployments}
    assert entries["dissent-train"] == "flows.retriever:train"
    assert entries["dissent-evaluate"] == "flows.retriever:evaluate"
    for entrypoint in (entries["dissent-train"], entries["dissent-evaluate"]):
        module, name = entrypoint.split(":")
        assert callable(getattr(importlib.import_module(module), name))


def test_the_task_bodies_refuse_what_the_library_refuses(tmp_path: Path) -> None:
    cfg = PipelineConfig(workdir=tmp_path)
    with pytest.raises(DissentError, match="unknown recipe"):
        train_task.fn(cfg, ["best"], None)
    with pytest.raises(DissentError, match="model x: /nonexistent does not exist"):
        evaluate_task.fn(cfg, {"x": "/nonexistent"}, [], None)
