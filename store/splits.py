"""The four-way split of human-labelled queries, which every stage must respect.

Queries are split **by query** — a query's pairs all land in one part — by a seeded hash of its
external id, so the split does not depend on row order and adding queries never moves old
ones:

- ``train``: tier training (tier 1 and any trained tier);
- ``calibration``: calibration maps, deciders and the cascade's route;
- ``test``: the label-agreement figures of the calibration report;
- ``evaluation``: retrieval evaluation (``dissent evaluate``). Evaluation queries are never
  mined (unless ``mining.include_evaluation_queries``), annotated, calibrated on, placed in a
  curriculum or trained on: a curriculum build refuses a mining run that holds one.

Only queries with human labels have a meaningful split; :func:`evaluation_queries` returns
the labelled ones that fall in ``evaluation``.

Example:
    >>> split_of("cordless drill", (0.4, 0.2, 0.2, 0.2), seed=0) in SPLITS
    True
    >>> SplitsConfig(fractions=(0.5, 0.5, 0.5, 0.0))
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for SplitsConfig
    ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import Field, model_validator
from sqlalchemy import Engine, select

from core.config import Section
from core.hashing import seeded_unit
from store.schema import HumanLabel, Query

__all__ = ["SPLITS", "SplitsConfig", "evaluation_queries", "split_of"]

SPLITS = ("train", "calibration", "test", "evaluation")


class SplitsConfig(Section):
    """The ``splits`` section: the share of labelled queries in each split, and the seed."""

    fractions: tuple[float, float, float, float] = Field(
        default=(0.4, 0.2, 0.2, 0.2),
        description="tier-training, calibration, test, evaluation (by query)",
    )
    seed: int = Field(default=0, description="seeds the hash that assigns queries to splits")

    @model_validator(mode="after")
    def _fractions_sum_to_one(self) -> SplitsConfig:
        if abs(sum(self.fractions) - 1.0) > 1e-6 or min(self.fractions) < 0:
            raise ValueError(
                f"fractions must be four non-negative numbers summing to 1, "
                f"got {list(self.fractions)}"
            )
        return self


class SplitSettings(Protocol):
    """A pipeline configuration with a ``splits`` section."""

    splits: SplitsConfig


def split_of(query_key: str, fractions: Sequence[float], seed: int = 0) -> str:
    """The split of a query (one of :data:`SPLITS`), by a seeded hash of its key."""
    u = seeded_unit(seed, query_key)
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions, strict=True):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]


def evaluation_queries(engine: Engine, splits: SplitsConfig) -> set[int]:
    """The ids of the human-labelled queries held out for retrieval evaluation."""
    stmt = select(Query.id, Query.external_id).where(
        Query.id.in_(select(HumanLabel.query_id).distinct())
    )
    with engine.connect() as conn:
        return {
            qid
            for qid, key in conn.execute(stmt)
            if split_of(key, splits.fractions, splits.seed) == "evaluation"
        }
