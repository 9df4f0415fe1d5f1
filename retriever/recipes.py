"""Recipes: which data each stage of a retriever's training reads, and with which loss.

Every recipe starts from the same model (``train.base_model``, offline the packaged MiniLM; one
encoder shared by queries and products) and trains through its stages in order:

| recipe | stages |
|---|---|
| ``human`` | the human labels of the tier-training split (grade >= the relevance cut-off), MNR |
| ``mixed`` | every curriculum example in one shuffled stage, MNR on (query, positive, negative) |
| ``staged`` | the curriculum: stage 1 BCE → stage 2 MNR → stage 3 Triplet |
| ``human-hardneg`` | the ``human`` pairs, each with mined negatives from the export, MNR |
| ``human+mixed`` | one MNR stage: the human pairs and the ``mixed`` triplets, batches interleaved |
| ``human+staged`` | the human-label stage, then the curriculum |

``dissent train`` trains :data:`DEFAULT_RECIPES` unless told otherwise. What each data name
holds is :mod:`retriever.rows`' business; what each loss does, :mod:`retriever.losses`'. A
benchmark trains recipes of its own through the same trainer by passing another table
(``train_recipes(..., table=...)``; ``bench/ablations.py`` does).

Example:
    >>> [(s.data, s.loss) for s in recipe_stages("staged")]
    [('stage1_bce', 'bce'), ('stage2_mnr', 'mnr'), ('stage3_triplet', 'triplet')]
    >>> recipe_stages("staged-masked")
    Traceback (most recent call last):
    ...
    core.errors.DissentError: unknown recipe(s) staged-masked; choose from human, mixed, staged, human-hardneg, human+mixed, human+staged
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from core.errors import DissentError
from retriever.losses.base import LossName

__all__ = [
    "CURRICULUM",
    "DEFAULT_RECIPES",
    "HUMAN",
    "RECIPES",
    "DataName",
    "RecipeName",
    "RecipeTable",
    "Stage",
    "check_recipes",
    "reads_export",
    "recipe_stages",
]

RecipeName = Literal["human", "mixed", "staged", "human-hardneg", "human+mixed", "human+staged"]
"""The recipes the library trains by name (``train.recipes``, ``dissent train --recipe``)."""

DataName = Literal[
    "human",
    "mixed",
    "human+mixed",
    "human_hardneg",
    "stage1_bce",
    "stage2_mnr",
    "stage3_triplet",
    "graded",
]
"""What a stage trains on: the export's datasets by name, or rows built from them and the
human labels (:func:`retriever.rows.stage_rows`)."""


@dataclass(frozen=True)
class Stage:
    """One stage of a recipe: which data, which loss."""

    data: DataName
    loss: LossName


RecipeTable = Mapping[str, Sequence[Stage]]
"""Recipe name -> its stages, in order."""

CURRICULUM = (
    Stage("stage1_bce", "bce"),
    Stage("stage2_mnr", "mnr"),
    Stage("stage3_triplet", "triplet"),
)
"""The curriculum's three stages in order: BCE, MNR, Triplet."""
HUMAN = Stage("human", "mnr")
"""The human-label stage."""

RECIPES: RecipeTable = MappingProxyType(
    {
        "human": (HUMAN,),
        "mixed": (Stage("mixed", "mnr"),),
        "staged": CURRICULUM,
        "human-hardneg": (Stage("human_hardneg", "mnr"),),
        "human+mixed": (Stage("human+mixed", "mnr"),),
        "human+staged": (HUMAN, *CURRICULUM),
    }
)

DEFAULT_RECIPES: tuple[RecipeName, ...] = ("human", "mixed", "staged")


def check_recipes(recipes: Iterable[str], table: RecipeTable = RECIPES) -> list[str]:
    """``recipes`` without repeats, in the order given.

    Raises:
        DissentError: a name is not in ``table``; the message lists the names that are.
    """
    chosen = list(dict.fromkeys(recipes))
    unknown = [name for name in chosen if name not in table]
    if unknown:
        raise DissentError(
            f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(table)}"
        )
    return chosen


def recipe_stages(recipe: str, table: RecipeTable = RECIPES) -> list[Stage]:
    """The stages of ``recipe`` in ``table``, in order.

    Raises:
        DissentError: ``recipe`` is not in ``table``.
    """
    check_recipes([recipe], table)
    return list(table[recipe])


def reads_export(stages: Iterable[Stage]) -> bool:
    """Whether any of ``stages`` reads the curriculum export (all but ``human`` do)."""
    return any(stage.data != "human" for stage in stages)
