"""The ``scripted`` backend: answers come from a Python function.

For testing cascade *logic* (escalation, retries, caching, resuming) without a model, and for
users' own tests. Every real backend is also tested against the real thing it talks to.

Example:
    >>> backend = ScriptedBackend("always-2", lambda pair: [0.0, 0.1, 0.8, 0.1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from annotator.backends.base import Answer, Capabilities, Pair
from prompts import Prompt

__all__ = ["ScriptedBackend"]

Script = Callable[[Pair], "Answer | list[float] | Exception"]


class ScriptedBackend(Capabilities):
    """Calls ``script(pair)`` per pair: a distribution, a full Answer, or an exception (failure)."""

    def __init__(self, model_id: str, script: Script, *, cost_s: float = 0.0) -> None:
        self.model_id = f"scripted:{model_id}"
        self.script = script
        self.cost_s = cost_s
        self.calls: list[Pair] = []

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        answers = []
        for pair in pairs:
            self.calls.append(pair)
            result = self.script(pair)
            if isinstance(result, Answer):
                answers.append(result)
            elif isinstance(result, Exception):
                answers.append(
                    Answer.failed(f"{type(result).__name__}: {result}", latency_s=self.cost_s)
                )
            else:
                answers.append(Answer(list(result), raw=str(list(result)), latency_s=self.cost_s))
        return answers

    def close(self) -> None:
        """Nothing to release."""
