"""The ``vllm`` backend: vLLM's offline engine in-process (GPU machines only).

Same contract as the others: one chat request per pair with JSON-schema structured output
(vLLM >= 0.12 ``StructuredOutputsParams``), greedy decoding, and the grade distribution from
the grade token's top log-probabilities. ``vllm`` is imported only when this backend is built;
install it with ``pip install 'dissent[vllm]'`` on a machine with a CUDA GPU. Without a GPU,
serve the model elsewhere with ``vllm serve`` and use the ``openai_compatible`` backend
(``structured_output: vllm``) instead.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from annotator.backends.base import (
    GRADE_SCHEMA,
    Answer,
    Capabilities,
    EndpointSettings,
    Pair,
    ParseError,
    distribution_from_logprobs,
    parse_grade,
)
from core.errors import ConfigError, DissentError
from prompts import Prompt

__all__ = ["VllmBackend"]

TOP_LOGPROBS = 10


class VllmBackend(Capabilities):
    """Grades pairs with an in-process vLLM engine; see the module docstring."""

    def __init__(self, tier: EndpointSettings) -> None:
        if not tier.model:
            raise ConfigError(f"tier {tier.name!r}: the vllm backend needs a model name or path")
        try:
            from vllm import LLM, SamplingParams
            from vllm.sampling_params import StructuredOutputsParams
        except ImportError as exc:
            raise DissentError(
                "vllm is not installed (it needs a CUDA GPU): `pip install 'dissent[vllm]'`, or "
                "serve the model with `vllm serve` and use the openai_compatible backend"
            ) from exc
        self.tier = tier
        self.model_id = f"vllm:{tier.model}"
        self._llm: Any = LLM(model=tier.model, seed=0)
        self._params = SamplingParams(
            temperature=0.0,
            max_tokens=16,
            logprobs=TOP_LOGPROBS,
            structured_outputs=StructuredOutputsParams(json=GRADE_SCHEMA),
        )

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        if not pairs:
            return []
        started = time.perf_counter()
        conversations = []
        for pair in pairs:
            system, user = prompt.render(pair.query, dict(pair.product))
            conversations.append(
                [system, user]
                if self.tier.system_role
                else [{"role": "user", "content": f"{system['content']}\n\n{user['content']}"}]
            )
        outputs = self._llm.chat(conversations, self._params, use_tqdm=False)
        each = (time.perf_counter() - started) / len(pairs)
        return [self._answer(output, each) for output in outputs]

    @staticmethod
    def _answer(output: Any, latency: float) -> Answer:
        completion = output.outputs[0]
        usage: dict[str, Any] = {
            "tokens_in": len(output.prompt_token_ids or []),
            "tokens_out": len(completion.token_ids or []),
            "latency_s": latency,
        }
        text = completion.text
        try:
            parse_grade(text)
            seen = ""
            for step in completion.logprobs or []:
                chosen = next(iter(step.values()))
                seen += chosen.decoded_token or ""
                if '"grade"' in seen and (chosen.decoded_token or "").strip().isdigit():
                    top = {lp.decoded_token or "": lp.logprob for lp in step.values()}
                    return Answer(distribution_from_logprobs(top), raw=text, **usage)
            raise ParseError("no logprobs at the grade token")
        except ParseError as exc:
            return Answer.failed(f"unparseable answer: {exc}", raw=text, **usage)

    def close(self) -> None:
        self._llm = None
