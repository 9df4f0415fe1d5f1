"""The backend contract: a model that grades (query, product) pairs with a distribution.

Every backend returns, per pair, an :class:`Answer`: a probability distribution over the
grades 0–3 (index = grade), the raw model output, token counts and latency. A call that fails
or whose output does not parse returns an Answer with ``error`` set and no distribution — it
is recorded and escalated by the cascade, never turned into a default grade.

Shared helpers here turn model output into distributions: :func:`parse_grade` for JSON
answers, :func:`distribution_from_logprobs` for the grade token's top log-probabilities, and
:func:`distribution_from_samples` for servers without logprobs.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from prompts import Prompt

__all__ = [
    "GRADE_SCHEMA",
    "Answer",
    "Backend",
    "Pair",
    "ParseError",
    "distribution_from_logprobs",
    "distribution_from_samples",
    "parse_grade",
]

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
