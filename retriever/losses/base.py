"""The loss contract: what a training row is, the loss names, and a step.

A *row* is one training example as the export stores it, a tuple of texts in the column order
sentence-transformers' losses read: ``(query, product, label)`` for pointwise BCE, ``(anchor,
positive[, negative...])`` for ranking losses, ``(query, exact, substitute, complement,
irrelevant)`` (lists of product texts) for the graded list. A *step* turns a batch of rows into
a loss tensor for the model being trained: it tokenizes the columns, moves them to the model's
device and calls the loss module. :mod:`retriever.losses.registry` builds the step for each
:data:`LossName`.

Example:
    >>> LOSS_NAMES
    ('bce', 'mnr', 'masked_mnr', 'triplet', 'graded')
"""

from __future__ import annotations

import typing
from typing import Any, Literal, Protocol

__all__ = ["LOSS_NAMES", "LossName", "Row", "Step", "to_device"]

Row = tuple[Any, ...]
"""One training example: texts (and a label or lists of texts), in the export's column order."""

LossName = Literal["bce", "mnr", "masked_mnr", "triplet", "graded"]
"""The losses a recipe's stage can name (see :mod:`retriever.losses.registry`)."""

LOSS_NAMES: tuple[LossName, ...] = typing.get_args(LossName)


class Step(Protocol):
    """One optimisation step's loss: ``step(model, batch)`` returns a scalar tensor."""

    def __call__(self, model: Any, batch: list[Row]) -> Any: ...


def to_device(model: Any, features: dict[str, Any]) -> dict[str, Any]:
    """Tokenizer output moved to ``model``'s device (values without ``.to`` stay as they are)."""
    return {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}
