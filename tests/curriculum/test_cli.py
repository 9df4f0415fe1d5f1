"""`dissent curriculum build` and `dissent export` as a user runs them."""

from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants
import pytest
from datasets import load_from_disk

from tests.curriculum.conftest import HandStore
from tests.flows.test_cli import error_line, run


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_build_then_export_from_the_command_line(
    hand_store: HandStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "DISSENT_STORE__URL": hand_store.engine.url.render_as_string(hide_password=False),
        "DISSENT_WORKDIR": str(tmp_path),
        "DISSENT_CURRICULUM__VALIDATION_FRACTION": "0",
        "DISSENT_CURRICULUM__TYPO_RATE": "0",
    }
    built = run("curriculum", "build", env=env)
    assert built.exit_code == 0, built.stderr
    assert "levels: 1=2, 2=2, 3=2, 4=2, 5=2" in built.stdout
    assert "promoted negatives: 1" in built.stdout
    again = run("curriculum", "build", env=env)
    assert "(reused)" in again.stdout
    exported = run("export", "--output", str(tmp_path / "out"), env=env)
    assert exported.exit_code == 0, exported.stderr
    assert "stage2_mnr: train 2, validation 0" in exported.stdout
    assert len(load_from_disk(str(tmp_path / "out" / "stage1_bce"))["train"]) == 4
    # No token anywhere: in-process the token file's path was fixed when huggingface_hub loaded.
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf" / "token"))
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)
    pushed = run(
        "export",
        "--output",
        str(tmp_path / "out"),
        "--push-to-hub",
        "someone/x",
        env={**env, "HF_HOME": str(tmp_path / "hf"), "HF_TOKEN": ""},
    )
    assert "no token" in error_line(pushed)


def test_build_on_an_empty_store_is_one_line(tmp_path: Path) -> None:
    done = run("curriculum", "build", env={"DISSENT_WORKDIR": str(tmp_path)})
    assert "run `dissent mine` first" in error_line(done)
