"""Difficulty levels: where a graded candidate lands, from its disagreement sets and its grade.

A mined candidate carries the disagreement sets it belongs to, in precedence order
(``candidates.ranks["sets"]``; the first is its ``candidate_set``), and the cascade gives it a
grade 0–3. "Relevant" means ``grade >= relevance_cutoff`` (default 2: Exact or Substitute).

| level | name                    | sets and grade                                   |
|-------|-------------------------|--------------------------------------------------|
| 1     | easy positives          | ``easy_positive`` (all channels agree), relevant |
| 2     | hard positives          | ``hard_positive`` (lexical only), relevant       |
| 3     | hard negatives          | ``hard_negative`` (one channel fooled), not relevant |
| 4     | token-similar negatives | ``token_negative`` (TF-IDF-similar, unretrieved), not relevant |
| 5     | random negatives        | ``random_negative``, not relevant                |

A candidate takes the level of the first of its sets whose polarity matches its grade, so a
hard-positive candidate that is also in the hard-negative set and is graded irrelevant becomes
a level-3 negative. Two outcomes sit outside the table:

- **promoted**: mined only as a negative (hard, token-similar or random) but graded relevant.
  It is a positive that the channels missed or disagreed on, so it becomes a level-2 (hard)
  positive, flagged ``promoted``, and is never trained as a negative.
- **demoted**: mined only as a positive but graded irrelevant (for example a consensus
  candidate that every channel retrieved). No level is defined for it: it is left out and
  counted.

A candidate the cascade could not grade (label status ``failed``) or has not graded yet is
left out and counted, never given a default grade.

    >>> assign_level(["hard_negative"], 3, cutoff=2)
    Placement(level=2, relevant=True, promoted=True)
    >>> assign_level(["hard_positive", "hard_negative"], 0, cutoff=2)
    Placement(level=3, relevant=False, promoted=False)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "LEVELS",
    "LEVEL_OF_SET",
    "POSITIVE_LEVELS",
    "GradedCandidate",
    "LevelCounts",
    "Leveled",
    "Placement",
    "assign_level",
    "assign_levels",
]

LEVELS: dict[int, str] = {
    1: "easy positives",
    2: "hard positives",
    3: "hard negatives",
    4: "token-similar negatives",
    5: "random negatives",
}
LEVEL_OF_SET: dict[str, int] = {
    "easy_positive": 1,
    "hard_positive": 2,
    "hard_negative": 3,
    "token_negative": 4,
    "random_negative": 5,
}
POSITIVE_LEVELS = frozenset({1, 2})
_PROMOTED_LEVEL = 2


class Placement(NamedTuple):
    """Where one graded candidate goes: its level (None: left out), polarity, promotion."""

    level: int | None
    relevant: bool
    promoted: bool


def assign_level(sets: Sequence[str], grade: int, cutoff: int = 2) -> Placement:
    """The level of a candidate in ``sets`` (precedence order) graded ``grade``.

    Raises:
        ValueError: an unknown set name, no set at all, or a grade outside 0–3.
    """
    if not sets:
        raise ValueError("a candidate needs at least one disagreement set")
    unknown = [s for s in sets if s not in LEVEL_OF_SET]
    if unknown:
        raise ValueError(f"unknown disagreement set(s) {unknown}; expected {list(LEVEL_OF_SET)}")
    if not 0 <= grade <= 3:
        raise ValueError(f"grade must be 0-3, got {grade}")
    relevant = grade >= cutoff
    for name in sets:
        level = LEVEL_OF_SET[name]
        if (level in POSITIVE_LEVELS) == relevant:
            return Placement(level, relevant, promoted=False)
    if relevant:
        return Placement(_PROMOTED_LEVEL, relevant, promoted=True)
    return Placement(None, relevant, promoted=False)  # demoted: no level for it


@dataclass(frozen=True, slots=True)
class GradedCandidate:
    """A mined candidate with the cascade's verdict (``grade`` None: not graded)."""

    query_id: int
    product_id: int
    sets: tuple[str, ...]
    grade: int | None
    status: str = "graded"  # graded | failed (the cascade could not) | unlabelled (not run)


@dataclass(frozen=True, slots=True)
class Leveled:
    """A candidate placed at a level."""

    query_id: int
    product_id: int
    level: int
    grade: int
    relevant: bool
    promoted: bool
    source_set: str


@dataclass
class LevelCounts:
    """What the level assignment did, for the run ledger and the dataset card."""

    per_level: dict[int, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    promoted: Counter[str] = field(default_factory=Counter)
    demoted: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    unlabelled: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "per_level": {str(k): v for k, v in self.per_level.items()},
            "promoted": dict(self.promoted),
            "demoted": dict(self.demoted),
            "failed": self.failed,
            "unlabelled": self.unlabelled,
        }


def assign_levels(
    candidates: Iterable[GradedCandidate], cutoff: int = 2
) -> tuple[list[Leveled], LevelCounts]:
    """Place every graded candidate at its level; count what was promoted or left out."""
    placed: list[Leveled] = []
    counts = LevelCounts()
    for c in candidates:
        if c.grade is None:
            if c.status == "failed":
                counts.failed += 1
            else:
                counts.unlabelled += 1
            continue
        level, relevant, promoted = assign_level(c.sets, c.grade, cutoff)
        if level is None:
            counts.demoted[c.sets[0]] += 1
            continue
        if promoted:
            counts.promoted[c.sets[0]] += 1
        counts.per_level[level] += 1
        placed.append(
            Leveled(c.query_id, c.product_id, level, c.grade, relevant, promoted, c.sets[0])
        )
    return placed, counts
