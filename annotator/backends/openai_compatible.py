"""The ``openai_compatible`` backend: any OpenAI-compatible chat server through ``openai``.

Works with vLLM (``vllm serve``), llama.cpp's servers, OpenAI itself, and anything else that
speaks ``/v1/chat/completions``:

- **Structured output** through whichever the server supports (``structured_output``):
  ``json_schema`` (OpenAI), ``json_object_schema`` (llama-cpp-python's server accepts
  ``{"type": "json_object", "schema": ...}`` and rejects ``json_schema``), ``vllm``
  (vLLM >= 0.12: ``structured_outputs`` in ``extra_body``; its old ``guided_*`` fields are
  gone), or ``none``.
- **Distribution**: from the grade token's ``top_logprobs`` when the server returns them, else
  from ``samples`` answers sampled at temperature 1.
- **Robustness**: at most ``max_concurrency`` requests in flight; a ``timeout_s`` per request;
  429, 5xx, timeouts and connection errors are retried ``max_retries`` times with exponential
  back-off and jitter; an answer that does not parse is retried too, then returned failed with
  its raw text and the reason (the cascade escalates it).

The API key comes from the environment variable the tier names (``api_key_env``); it is never
stored or logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
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
    distribution_from_samples,
    parse_grade,
)
from core.errors import ConfigError
from prompts import Prompt

__all__ = ["OpenAICompatibleBackend", "request_options"]

log = logging.getLogger(__name__)

TOP_LOGPROBS = 10


# A whole request (connect, wait, read) is cut at this many times the tier's timeout_s.
REQUEST_TIMEOUTS = 3


def _choices(response: Any) -> list[Any]:
    """The completion's choices, or ParseError for a body that is not a chat completion (an
    HTML error page served with HTTP 200, an empty ``choices`` list)."""
    choices = getattr(response, "choices", None)
    if not choices:
        what = "no choices" if choices is not None else "not a chat completion"
        raise ParseError(f"malformed response: {what}", str(response)[:500])
    return list(choices)


def _response_format(mode: str) -> dict[str, Any]:
    if mode == "json_schema":
        schema = {"name": "grade", "schema": GRADE_SCHEMA, "strict": True}
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    if mode == "json_object_schema":
        return {"response_format": {"type": "json_object", "schema": GRADE_SCHEMA}}
    if mode == "vllm":
        return {"extra_body": {"structured_outputs": {"json": GRADE_SCHEMA}}}
    return {}


def request_options(tier: EndpointSettings, *, logprobs: bool | None = None) -> dict[str, Any]:
    """Everything a tier's chat-completion request sends besides ``messages``.

    With logprobs (``tier.logprobs``, unless ``logprobs`` overrides it): one greedy answer
    with the top logprobs; without: ``tier.samples`` answers, greedy when there is one, at
    temperature 1 when there are several.

    Example:
        >>> tier = EndpointSettings(name="t", backend="openai_compatible", model="m", samples=1)
        >>> options = request_options(tier, logprobs=False)
        >>> options["temperature"], options["n"], options["response_format"]["type"]
        (0.0, 1, 'json_schema')
        >>> request_options(tier)["top_logprobs"]
        10
    """
    options = {"model": tier.model, "max_tokens": 16, **_response_format(tier.structured_output)}
    if tier.logprobs if logprobs is None else logprobs:
        return {**options, "temperature": 0.0, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
    return {**options, "temperature": 0.0 if tier.samples == 1 else 1.0, "n": tier.samples}


def _grade_logprobs(choice: Any) -> dict[str, float] | None:
    """Top logprobs at the first token that carries the grade digit, if the server sent any."""
    content = getattr(getattr(choice, "logprobs", None), "content", None)
    if not content:
        return None
    seen = ""
    for item in content:
        seen += item.token
        if '"grade"' in seen and item.token.strip().isdigit():
            return {t.token: t.logprob for t in (item.top_logprobs or [])} or {
                item.token: item.logprob
            }
    return None


class OpenAICompatibleBackend(Capabilities):
    """Grades pairs through an OpenAI-compatible server; see the module docstring."""

    in_process = False  # a remote server: max_concurrency calls at once

    def __init__(self, tier: EndpointSettings) -> None:
        if not tier.base_url and not tier.api_key_env:
            raise ConfigError(
                f"tier {tier.name!r}: openai_compatible needs base_url (e.g. http://host:8000/v1) "
                "or api_key_env for OpenAI itself"
            )
        if not tier.model:
            raise ConfigError(
                f"tier {tier.name!r}: openai_compatible needs the served model name in 'model'"
            )
        api_key = "not-needed"
        if tier.api_key_env:
            api_key = os.environ.get(tier.api_key_env, "")
            if not api_key:
                raise ConfigError(
                    f"tier {tier.name!r}: environment variable {tier.api_key_env} is not set"
                )
        self.tier = tier
        self.model_id = f"openai_compatible:{tier.model}"
        self._api_key = api_key

    # ------------------------------------------------------------------ calls
    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        return asyncio.run(self._grade_all(pairs, prompt))

    async def _grade_all(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(
            base_url=self.tier.base_url,
            api_key=self._api_key,
            timeout=self.tier.timeout_s,
            max_retries=0,  # retries are ours: the same policy for HTTP and parse failures
        )
        limit = asyncio.Semaphore(self.tier.max_concurrency)

        async def one(pair: Pair) -> Answer:
            async with limit:
                return await self._grade_one(client, pair, prompt)

        started = time.perf_counter()
        try:
            answers = list(await asyncio.gather(*(one(p) for p in pairs)))
        finally:
            await client.close()
        # With requests in flight together, one request's latency overstates what a pair
        # costs: record the batch's wall time per pair (the tier's throughput cost) and keep
        # each request's own latency in extra.
        share = (time.perf_counter() - started) / max(1, len(pairs))
        for answer in answers:
            answer.extra["request_latency_s"] = answer.latency_s
            answer.latency_s = share
        return answers

    def messages(self, pair: Pair, prompt: Prompt) -> list[dict[str, str]]:
        """The chat messages this tier sends for ``pair`` (the system prompt folded into the
        user message when the server drops system messages: ``system_role: false``)."""
        system, user = prompt.render(pair.query, dict(pair.product))
        if self.tier.system_role:
            return [system, user]
        return [{"role": "user", "content": f"{system['content']}\n\n{user['content']}"}]

    async def _grade_one(self, client: Any, pair: Pair, prompt: Prompt) -> Answer:
        import openai

        started = time.perf_counter()
        messages = self.messages(pair, prompt)
        usage = {"tokens_in": 0, "tokens_out": 0}
        last_error, raw = "no attempt", None
        for attempt in range(self.tier.max_retries + 1):
            if attempt:
                await asyncio.sleep(min(30.0, 0.5 * 2 ** (attempt - 1)) * (0.5 + random.random()))
            try:
                # the client's timeout bounds each read; this bounds the whole request (a
                # server that trickles bytes forever never trips a read timeout)
                async with asyncio.timeout(REQUEST_TIMEOUTS * self.tier.timeout_s):
                    answer = await self._request(client, messages, usage)
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APITimeoutError,
                openai.APIConnectionError,
                TimeoutError,
            ) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                log.info("%s: retrying after %s", self.model_id, last_error)
                continue
            except (openai.APIResponseValidationError, json.JSONDecodeError) as exc:
                last_error = f"malformed response: {type(exc).__name__}: {exc}"
                log.info("%s: retrying after %s", self.model_id, last_error)
                continue
            except openai.APIStatusError as exc:  # 4xx other than 429: retrying cannot help
                last_error = f"HTTP {exc.status_code}: {exc.message}"
                break
            except ParseError as exc:
                last_error, raw = (
                    f"unparseable answer: {exc}",
                    str(exc.args[1]) if len(exc.args) > 1 else raw,
                )
                continue
            answer.latency_s = time.perf_counter() - started
            answer.extra["attempts"] = attempt + 1
            return answer
        return Answer.failed(
            last_error,
            raw=raw,
            latency_s=time.perf_counter() - started,
            tokens_in=usage["tokens_in"],
            tokens_out=usage["tokens_out"],
        )

    async def _request(
        self, client: Any, messages: list[dict[str, str]], usage: dict[str, int]
    ) -> Answer:
        tier = self.tier
        if tier.logprobs:
            response = await client.chat.completions.create(
                messages=messages, **request_options(tier)
            )
            choice = _choices(response)[0]
            self._count(response, usage)
            text = choice.message.content or ""
            grade = self._parse(text)
            top = _grade_logprobs(choice)
            if top is not None:
                try:
                    return Answer(
                        distribution_from_logprobs(top),
                        raw=text,
                        tokens_in=usage["tokens_in"],
                        tokens_out=usage["tokens_out"],
                    )
                except ParseError:
                    pass  # logprobs without grade digits: fall back to sampling
            if tier.samples <= 1:
                return Answer(
                    distribution_from_samples([grade]),
                    raw=text,
                    tokens_in=usage["tokens_in"],
                    tokens_out=usage["tokens_out"],
                )
        response = await client.chat.completions.create(
            messages=messages, **request_options(tier, logprobs=False)
        )
        choices = _choices(response)
        self._count(response, usage)
        texts = [c.message.content or "" for c in choices]
        grades = []
        for text in texts:
            try:
                grades.append(parse_grade(text))
            except ParseError:
                continue
        if not grades:
            raise ParseError(f"none of {len(texts)} samples parsed", texts[0] if texts else "")
        return Answer(
            distribution_from_samples(grades),
            raw=texts[0],
            tokens_in=usage["tokens_in"],
            tokens_out=usage["tokens_out"],
            extra={"samples": texts},
        )

    @staticmethod
    def _parse(text: str) -> int:
        try:
            return parse_grade(text)
        except ParseError as exc:
            raise ParseError(str(exc), text) from exc

    @staticmethod
    def _count(response: Any, usage: dict[str, int]) -> None:
        if response.usage is not None:
            usage["tokens_in"] += response.usage.prompt_tokens or 0
            usage["tokens_out"] += response.usage.completion_tokens or 0

    def close(self) -> None:
        """Nothing to release: each grade() call opens and closes its own client."""
