"""The in-process vLLM backend: runs only where vllm, a CUDA GPU and a local model exist."""

from __future__ import annotations

import importlib.util
import os

import pytest

from annotator.config import TierConfig
from core.errors import DissentError

MODEL = os.environ.get("DISSENT_TEST_VLLM_MODEL")


def _gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def test_without_vllm_the_error_names_the_extra() -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    from annotator.backends.vllm import VllmBackend

    with pytest.raises(DissentError, match=r"pip install 'dissent\[vllm\]'"):
        VllmBackend(TierConfig(name="big", backend="vllm", model="some/model"))


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None, reason="vllm is not installed (GPU machines only)"
)
@pytest.mark.skipif(not _gpu(), reason="no CUDA GPU")
@pytest.mark.skipif(MODEL is None, reason="set DISSENT_TEST_VLLM_MODEL to a local model path")
def test_vllm_grades_with_distributions() -> None:
    from annotator.backends.vllm import VllmBackend
    from prompts import load_prompt
    from tests.annotator.conftest import PAIRS

    backend = VllmBackend(TierConfig(name="big", backend="vllm", model=MODEL))
    answers = backend.grade(PAIRS, load_prompt())
    assert all(a.ok and abs(sum(a.distribution or []) - 1) < 1e-6 for a in answers)
