"""The in-process llama.cpp backend with the packaged Gemma 3 270M (a real model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotator.backends.llama_cpp import LlamaCppBackend
from core.errors import DissentError
from prompts import load_prompt
from tests.annotator.conftest import PAIRS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(gemma_path: Path) -> LlamaCppBackend:
    return LlamaCppBackend(str(gemma_path))


def test_grades_are_distributions_with_valid_json(backend: LlamaCppBackend) -> None:
    answers = backend.grade(PAIRS, load_prompt())
    assert len(answers) == len(PAIRS)
    for answer in answers:
        assert answer.ok, answer.error
        assert answer.distribution is not None and len(answer.distribution) == 4
        assert sum(answer.distribution) == pytest.approx(1.0)
        assert answer.raw == f'{{"grade": {answer.grade}}}'
        assert answer.tokens_in > 200 and answer.tokens_out == 1 and answer.latency_s > 0
    assert backend.model_id == "llama_cpp:gemma-3-270m-q4_k_m.gguf"


def test_same_pair_same_distribution_with_or_without_the_kv_cache(backend: LlamaCppBackend) -> None:
    first = backend.grade(PAIRS[:1], load_prompt())[0]
    backend.grade(PAIRS[1:], load_prompt())  # moves the cache to another pair
    again = backend.grade(PAIRS[:1], load_prompt())[0]
    assert again.distribution == pytest.approx(first.distribution, abs=1e-4)


def test_prompt_over_the_context_is_a_recorded_failure(gemma_path: Path) -> None:
    small = LlamaCppBackend(str(gemma_path), n_ctx=128)
    answer = small.grade(PAIRS[:1], load_prompt())[0]
    assert not answer.ok and "exceeds n_ctx" in (answer.error or "")
    small.close()


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DissentError, match="does not exist"):
        LlamaCppBackend(str(tmp_path / "nope.gguf"))
