"""The dense encoder's onnx-int8 runtime: the packaged model exported once, vectors close to torch's."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from core.encoder import Encoder, resolve_runtime
from core.errors import ConfigError
from miners.config import DenseConfig

pytest.importorskip("onnxruntime")

TEXTS = [
    "DEWALT 20V MAX Lithium-Ion Cordless Drill/Driver Kit",
    "Behr Premium Plus 1 gal. Ultra Pure White Flat Interior Paint",
    "cordless drill",
    "white paint",
    "x",
] * 30


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx")


def test_int8_vectors_are_close_to_torch_and_rank_alike(exported: Path) -> None:
    torch_vectors = Encoder().encode(TEXTS)
    int8 = Encoder(runtime="onnx-int8", export_dir=exported, batch_size=32)
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    vectors = int8.encode(TEXTS)  # exports first
    assert (root.level, list(root.handlers)) == before  # the quantizer's advice stays quiet
    assert vectors.shape == torch_vectors.shape
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.sum(vectors * torch_vectors, axis=1).min() > 0.95
    # the query "cordless drill" finds the drill, "white paint" the paint, in both runtimes
    for found in (vectors, torch_vectors):
        assert int(np.argmax(found[:2] @ found[2])) == 0
        assert int(np.argmax(found[:2] @ found[3])) == 1
    assert int8.key.endswith("-int8") and int8.key != Encoder().key  # cached apart


def test_the_export_is_made_once_and_reused(exported: Path) -> None:
    Encoder(runtime="onnx-int8", export_dir=exported).encode(TEXTS[:3])
    (model,) = exported.glob("*/model-int8.onnx")
    made = model.stat().st_mtime_ns
    again = Encoder(runtime="onnx-int8", export_dir=exported)
    first = again.encode(TEXTS[:3])
    assert model.stat().st_mtime_ns == made
    assert not list(exported.glob("*/*.partial")) and not list(exported.glob("*/model.onnx"))
    np.testing.assert_array_equal(first, again.encode(TEXTS[:3]))  # deterministic


def test_auto_keeps_torch_where_bfloat16_is_native() -> None:
    assert resolve_runtime("auto", "bfloat16") == "torch"
    assert resolve_runtime("auto", "float32") == "onnx-int8"
    assert resolve_runtime("torch", "float32") == "torch"
    with pytest.raises(ValueError, match="runtime must be"):
        resolve_runtime("tensorrt", "float32")


def test_a_model_without_a_transformer_module_is_refused(exported: Path) -> None:
    from core.onnx_encoder import export_int8

    with pytest.raises(ConfigError, match="runtime: torch"):
        export_int8([object()], "not-a-transformer", exported)


def test_the_config_key_names_the_choices() -> None:
    assert DenseConfig().runtime == "auto"
    with pytest.raises(ValueError, match="onnx-int8"):
        DenseConfig(runtime="onnx")  # type: ignore[arg-type]
