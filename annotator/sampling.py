"""Spreading an annotation budget over many queries: ``annotation.sample``.

Grading every candidate of a large mining run costs more than a budget allows, and taking the
first N pairs by query id grades a few queries exhaustively. :func:`sample_candidates` keeps, per query, at most ``per_set[s]``
candidates of each disagreement set ``s`` and then at most ``per_query`` in all — each choice
a seeded shuffle of that query's candidates, so it depends on the seed and the query alone —
and orders queries by a seeded hash, so that a ``--limit`` takes whole queries spread over
the catalog. The dataset card states the policy.

It works on plain :class:`annotator.pairs.CandidateRow` rows, so that a mining run's
millions of candidates cost a read and a shuffle, and only the chosen become pairs.

Example:
    >>> cands = [CandidateRow(q, p, s) for q in (1, 2) for p, s in
    ...          [(10, "easy_positive"), (11, "hard_negative"), (12, "hard_negative")]]
    >>> policy = SampleConfig(per_set={"hard_negative": 1})
    >>> [(c.query_id, c.candidate_set) for c in sample_candidates(cands, policy)][:2]
    [(1, 'easy_positive'), (1, 'hard_negative')]
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from pydantic import Field, field_validator

from annotator.pairs import CandidateRow
from core.config import Section
from core.hashing import seeded_int
from store.schema import CANDIDATE_SETS

__all__ = ["SampleConfig", "sample_candidates"]


class SampleConfig(Section):
    """``annotation.sample``: how many candidates of each query (and set) to grade."""

    per_query: int | None = Field(default=None, ge=1, description="at most, per query")
    per_set: dict[str, int] = Field(
        default_factory=dict, description="at most, per query and disagreement set"
    )
    seed: int = Field(default=0, description="orders the queries and draws each one's candidates")

    @field_validator("per_set")
    @classmethod
    def _known_sets(cls, value: dict[str, int]) -> dict[str, int]:
        unknown = sorted(set(value) - set(CANDIDATE_SETS))
        if unknown:
            raise ValueError(
                f"unknown set {unknown[0]!r}; the sets are {', '.join(CANDIDATE_SETS)}"
            )
        if any(cap < 0 for cap in value.values()):
            raise ValueError("a per-set cap is a number of candidates, 0 or more")
        return value

    @property
    def active(self) -> bool:
        return self.per_query is not None or bool(self.per_set)


def _shuffled(items: list[CandidateRow], *key: object) -> list[CandidateRow]:
    out = sorted(items, key=lambda c: c.product_id)
    random.Random(seeded_int(*key)).shuffle(out)
    return out


def sample_candidates(
    candidates: Sequence[CandidateRow], policy: SampleConfig
) -> list[CandidateRow]:
    """The candidates to grade under ``policy`` (all of them, in order, when it is inactive):
    queries in a seeded order, each query's chosen candidates by product id."""
    if not policy.active:
        return list(candidates)
    by_query: dict[int, dict[str, list[CandidateRow]]] = {}
    for row in candidates:
        by_query.setdefault(row.query_id, {}).setdefault(row.candidate_set, []).append(row)
    order = sorted(by_query, key=lambda q: seeded_int(policy.seed, "sample-order", q))
    out: list[CandidateRow] = []
    for query in order:
        kept: list[CandidateRow] = []
        for name, rows in sorted(by_query[query].items()):
            cap = policy.per_set.get(name)
            chosen = _shuffled(rows, policy.seed, "set", query, name)
            kept.extend(chosen if cap is None else chosen[:cap])
        kept = _shuffled(kept, policy.seed, "query", query)
        if policy.per_query is not None:
            kept = kept[: policy.per_query]
        out.extend(sorted(kept, key=lambda c: c.product_id))
    return out
