"""How far a mining run's levels agree with the humans, where a human judged the pair.

The curriculum's levels come from the channels' disagreement and the cascade's grade. On a
dataset whose mined queries carry human labels (Home Depot: every query does), the pairs a
human also judged say how often each level's polarity is right, and how many of a level's
products a human ever saw:

- **judged share**: the level's candidates a human graded. An unjudged positive may well be
  relevant, but a retrieval evaluation that counts unjudged products as grade 0 (``dissent
  evaluate``) scores a model that learnt to retrieve it as if it had retrieved nothing.
- **human relevant**: of the judged ones, the share a human graded relevant (mean grade over
  label sources ≥ ``cutoff``). For positive levels it is their precision, for negative levels
  the share of false negatives.

Candidates mined as positives but graded irrelevant (``demoted``, left out of the curriculum)
get a row of their own: if humans call most of them relevant, the cascade is throwing away
good positives. A last row holds every human-judged pair of the run's queries, mined or not:
its relevant share is the base rate a level's precision must beat (judged products are the
ones a search engine showed the raters, far more often relevant than a random product).

:func:`easy_positives_by_rank` asks the same of every mined consensus candidate, graded or not,
by its worst rank over the channels: where consensus is loose (every channel's top 500), the
share a human judged and called relevant says how far down the lists a consensus still means
anything.

    >>> LevelCheck("easy positives", 10, 4, 3).human_relevant_share
    0.75
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from curriculum.build import graded_candidates
from curriculum.levels import LEVELS, assign_level
from store.schema import Candidate, HumanLabel

__all__ = ["ALL_JUDGED", "DEMOTED", "LevelCheck", "check_levels", "easy_positives_by_rank"]

DEMOTED = "demoted (mined positive, graded irrelevant)"
ALL_JUDGED = "every human-judged pair of these queries"


@dataclass(frozen=True)
class LevelCheck:
    """One level's candidates against the human labels of the same pairs."""

    level: str
    candidates: int
    judged: int
    human_relevant: int

    @property
    def judged_share(self) -> float | None:
        """Of the level's candidates, the share a human judged (None: no candidates)."""
        return self.judged / self.candidates if self.candidates else None

    @property
    def human_relevant_share(self) -> float | None:
        """Of the judged candidates, the share humans graded relevant (None: none judged)."""
        return self.human_relevant / self.judged if self.judged else None

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "candidates": self.candidates,
            "judged": self.judged,
            "judged_share": self.judged_share,
            "human_relevant": self.human_relevant,
            "human_relevant_share": self.human_relevant_share,
        }


def _human_grades(engine: Engine, source: str | None) -> dict[tuple[int, int], float]:
    """Mean human grade per (query, product), over every label source or just ``source``."""
    stmt = select(HumanLabel.query_id, HumanLabel.product_id, HumanLabel.grade)
    if source is not None:
        stmt = stmt.where(HumanLabel.source == source)
    grades: dict[tuple[int, int], list[int]] = defaultdict(list)
    with engine.connect() as conn:
        for query_id, product_id, grade in conn.execute(stmt):
            grades[(query_id, product_id)].append(int(grade))
    return {pair: sum(g) / len(g) for pair, g in grades.items()}


def _count(row: list[int], human: float | None, cutoff: int) -> None:
    """Add one candidate to ``row`` (candidates, judged, human relevant), ``human`` its mean
    human grade (None: unjudged)."""
    row[0] += 1
    if human is not None:
        row[1] += 1
        row[2] += human >= cutoff


def check_levels(
    engine: Engine,
    mining_run: int,
    cascade: str,
    cutoff: int = 2,
    source: str | None = None,
) -> list[LevelCheck]:
    """Each level of ``mining_run`` as ``cascade`` labelled it, then the demoted candidates,
    against the human labels of the same (query, product) pairs; last, every human-judged
    pair of the run's labelled queries (:data:`ALL_JUDGED`).

    Args:
        engine: the store.
        mining_run: the mining run (:func:`curriculum.build.resolve_inputs` finds the latest).
        cascade: the cascade whose labels place the candidates.
        cutoff: grade at or above which a pair is relevant, for the cascade and the humans.
        source: count only human labels of this source (default: all, averaged per pair).
    """
    humans = _human_grades(engine, source)
    counts: dict[str, list[int]] = {name: [0, 0, 0] for name in [*LEVELS.values(), DEMOTED]}
    graded, _ = graded_candidates(engine, mining_run, cascade)
    for c in graded:
        if c.grade is None:
            continue
        level = assign_level(c.sets, c.grade, cutoff).level
        row = counts[DEMOTED if level is None else LEVELS[level]]
        _count(row, humans.get((c.query_id, c.product_id)), cutoff)
    queries = {c.query_id for c in graded}
    base = [grade >= cutoff for (query, _), grade in humans.items() if query in queries]
    counts[ALL_JUDGED] = [len(base), len(base), sum(base)]
    return [LevelCheck(name, *row) for name, row in counts.items()]


def easy_positives_by_rank(
    engine: Engine,
    mining_run: int,
    edges: Sequence[int] = (10, 50, 100, 500),
    cutoff: int = 2,
    source: str | None = None,
) -> list[LevelCheck]:
    """Every ``easy_positive`` candidate of ``mining_run`` (graded or not), bucketed by its
    worst rank over the channels that ranked it (``worst rank 1-10``, ``11-50``, ...; a rank
    past the last edge joins the last bucket), against the human labels of the same pairs.
    """
    humans = _human_grades(engine, source)
    names = [f"worst rank {lo + 1}-{hi}" for lo, hi in zip([0, *edges[:-1]], edges, strict=True)]
    counts = {name: [0, 0, 0] for name in names}
    stmt = select(Candidate.query_id, Candidate.product_id, Candidate.ranks).where(
        Candidate.run_id == mining_run, Candidate.candidate_set == "easy_positive"
    )
    with engine.connect() as conn:
        for query_id, product_id, ranks in conn.execute(stmt):
            channel_ranks = [  # channel name -> rank; "sets" and scores are not ranks
                v for v in (ranks or {}).values() if type(v) is int
            ]
            if not channel_ranks:
                continue
            worst = max(channel_ranks)
            bucket = next((i for i, edge in enumerate(edges) if worst <= edge), len(edges) - 1)
            _count(counts[names[bucket]], humans.get((query_id, product_id)), cutoff)
    return [LevelCheck(name, *row) for name, row in counts.items()]
