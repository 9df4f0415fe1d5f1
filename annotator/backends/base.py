"""The backend contract: a model that grades (query, product) pairs with a distribution.

A backend is named by :data:`BackendName` and reads its tier's :class:`EndpointSettings`
(which model, where, how to call it); ``annotation.tiers`` entries extend these settings
(:class:`annotator.config.TierConfig`) and :mod:`annotator.backends.registry` builds the
backend. Every backend returns, per pair, an :class:`Answer`: a probability distribution over the
grades 0–3 (index = grade), the raw model output, token counts and latency. A call that fails
or whose output does not parse returns an Answer with ``error`` set and no distribution — it
is recorded and escalated by the cascade, never turned into a default grade.

Backend classes say what they can do through :class:`Capabilities` (trained by Dissent?
run for this process?). Shared helpers here turn model output into distributions: :func:`parse_grade` for JSON
answers, :func:`distribution_from_logprobs` for the grade token's top log-probabilities, and
:func:`distribution_from_samples` for servers without logprobs.
"""

from __future__ import annotations

import json
import math
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import Field

from core.config import Section
from prompts import Prompt

__all__ = [
    "BACKENDS",
    "GRADE_SCHEMA",
    "Answer",
    "Backend",
    "BackendName",
    "Capabilities",
    "EndpointSettings",
    "Pair",
    "ParseError",
    "StructuredOutput",
    "distribution_from_logprobs",
    "distribution_from_samples",
    "parse_grade",
]

BackendName = Literal["cross_encoder", "llama_cpp", "openai_compatible", "vllm", "scripted"]
"""The backends there are; a tier's ``backend`` accepts these names."""
BACKENDS: tuple[str, ...] = typing.get_args(BackendName)

StructuredOutput = Literal["json_schema", "json_object_schema", "vllm", "none"]
"""How an OpenAI-compatible server is asked for JSON (``structured_output``)."""

N_GRADES = 4
GRADE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"grade": {"type": "integer", "enum": [0, 1, 2, 3]}},
    "required": ["grade"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True)
class Pair:
    """One (query, product) pair to grade, with the product fields the prompt shows."""

    query_id: int
    product_id: int
    product_hash: str
    query: str
    product: Mapping[str, Any]


@dataclass(slots=True)
class Answer:
    """One model call's result for one pair."""

    distribution: list[float] | None
    raw: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.distribution is not None

    @property
    def grade(self) -> int | None:
        """The most probable grade (ties: the lower grade), or None for a failed call."""
        if self.distribution is None:
            return None
        return max(range(len(self.distribution)), key=lambda g: (self.distribution[g], -g))  # type: ignore[index]

    @staticmethod
    def failed(error: str, raw: str | None = None, **usage: Any) -> Answer:
        return Answer(None, raw=raw, error=error, **usage)


class EndpointSettings(Section):
    """What a backend reads of its tier: which backend, the model, and how to call it."""

    name: str = Field(description="the tier's name, in reports, logs and errors")
    backend: BackendName = Field(description="which backend grades for this tier")
    model: str | None = Field(default=None, description="model path/name; backend default if unset")
    base_url: str | None = Field(
        default=None, description="an OpenAI-compatible server's /v1 URL (openai_compatible)"
    )
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,99}$",
        description="name of the environment variable holding the API key (never the key)",
    )
    max_concurrency: int = Field(default=4, ge=1, description="requests in flight at once")
    timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="seconds to connect or between bytes of an answer (a request: three times)",
    )
    max_retries: int = Field(
        default=3, ge=0, description="retries of a failed or unparseable call before escalating"
    )
    samples: int = Field(default=5, ge=1, description="samples when the server gives no logprobs")
    structured_output: StructuredOutput = Field(
        default="json_schema",
        description="how to ask for JSON: OpenAI json_schema, llama.cpp json_object_schema, vllm",
    )
    logprobs: bool = Field(default=True, description="ask for logprobs (else sample)")
    system_role: bool = Field(
        default=True, description="send the rubric as a system message (False: prepend to user)"
    )


@runtime_checkable
class Backend(Protocol):
    """A grading model. ``model_id`` names the model (it keys the judgment cache)."""

    model_id: str

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        """One Answer per pair, in order. Must not raise for a bad answer: return it failed."""
        ...

    def close(self) -> None:
        """Release the model, connections or server."""
        ...


class Capabilities:
    """What a backend class can do, read through :func:`annotator.backends.registry.backend_class`
    (never by backend name). Every backend class inherits it and overrides what differs."""

    trainable: ClassVar[bool] = False
    """Dissent fine-tunes its model (``dissent annotate train-tier``) into a workdir folder."""
    in_process: ClassVar[bool] = True
    """Its model runs for this process (in it, or a server started for it): one call at a
    time per process. False: a remote server that takes ``max_concurrency`` calls at once."""


class ParseError(ValueError):
    """A model answer that is not a JSON object with an integer grade 0–3."""


_JSON_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)


def parse_grade(text: str) -> int:
    """The grade of an answer such as ``{"grade": 2}``.

    Accepts surrounding whitespace or prose around exactly one JSON object; nothing else.

    Raises:
        ParseError: no JSON object, no ``grade`` key, or a grade outside 0–3.
    """
    candidates = [text.strip(), *_JSON_OBJECT.findall(text)]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "grade" in value:
            grade = value["grade"]
            if isinstance(grade, bool) or not isinstance(grade, int | str):
                raise ParseError(f"grade is not an integer: {grade!r}")
            try:
                number = int(grade)
            except ValueError as exc:
                raise ParseError(f"grade is not an integer: {grade!r}") from exc
            if not 0 <= number < N_GRADES:
                raise ParseError(f"grade {number} is outside 0-3")
            return number
    raise ParseError(f"no JSON object with a 'grade' in {text[:200]!r}")


def distribution_from_logprobs(
    top_logprobs: Mapping[str, float], floor: float = 1e-6
) -> list[float]:
    """Grade probabilities from the top log-probabilities at the grade token's position.

    Tokens that read as a grade digit (``"2"``, ``" 2"``) are summed per grade; the rest of
    the mass (other tokens) is dropped and the four grades renormalised.

    Raises:
        ParseError: no grade digit among the top tokens.
    """
    mass = [0.0] * N_GRADES
    for token, logprob in top_logprobs.items():
        text = token.strip()
        if len(text) == 1 and text.isdigit() and int(text) < N_GRADES:
            mass[int(text)] += math.exp(logprob)
    total = sum(mass)
    if total <= 0:
        raise ParseError(f"no grade digit among the top tokens {list(top_logprobs)[:10]}")
    probs = [max(m / total, floor) for m in mass]
    norm = sum(probs)
    return [p / norm for p in probs]


def distribution_from_samples(grades: Sequence[int], smoothing: float = 0.5) -> list[float]:
    """Grade probabilities from several sampled answers (additive smoothing).

    Raises:
        ParseError: no samples.
    """
    if not grades:
        raise ParseError("no parseable samples")
    counts = [smoothing] * N_GRADES
    for grade in grades:
        counts[grade] += 1
    total = sum(counts)
    return [c / total for c in counts]
