"""The grading rubric people read on the page: the one the model tiers are prompted with.

The scale and its examples are cut from the grading prompt (``prompts/grading.j2``), so people
and models grade against the same words; the grade names are :data:`prompts.GRADES` (ESCI).
When the prompt holds no scale this module can read, a short ESCI text stands in.

Example:
    >>> [(g.grade, g.name) for g in rubric()]
    [(3, 'Exact'), (2, 'Substitute'), (1, 'Complement'), (0, 'Irrelevant')]
    >>> rubric()[0].example
    'query "dewalt 20v drill" - product "DEWALT 20V MAX Cordless Drill/Driver Kit".'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from prompts import GRADES, load_prompt

__all__ = ["Grade", "rubric"]

_ENTRY = re.compile(r"^(?P<grade>[0-3]) = (?P<name>\w+): (?P<rest>.+)$", re.DOTALL)
_SHORT = {
    3: "The product is what the query asks for and matches every stated detail.",
    2: "Relevant but misses some stated detail; a shopper could buy it instead.",
    1: "Not what was asked for, but used together with it.",
    0: "Unrelated, or shares only a word with the query.",
}


@dataclass(frozen=True)
class Grade:
    """One step of the scale: its number, name, meaning and an example (may be empty)."""

    grade: int
    name: str
    text: str
    example: str = ""


def _entries(source: str) -> list[Grade]:
    """The scale's entries in the prompt's text, best first (empty when there is none)."""
    start = source.find("on this scale:")
    end = source.find("\n\n", source.find("0 = ", max(start, 0)))
    if start < 0 or end < 0:
        return []
    block = source[start + len("on this scale:") : end].strip()
    found = []
    for chunk in re.split(r"\n(?=[0-3] = )", block):
        match = _ENTRY.match(chunk.strip())
        if match:
            text, _, example = " ".join(match["rest"].split()).partition(" Example: ")
            found.append(
                Grade(int(match["grade"]), match["name"], text[:1].upper() + text[1:], example)
            )
    return found


@cache
def rubric() -> tuple[Grade, ...]:
    """The 0–3 scale as the grading prompt states it, Exact first."""
    found = {g.grade: g for g in _entries(load_prompt("grading").source)}
    if set(found) != set(GRADES):
        found = {g: Grade(g, GRADES[g], _SHORT[g]) for g in GRADES}
    return tuple(found[g] for g in sorted(found, reverse=True))
