"""Losses for training a two-tower retriever, one per module, in sentence-transformers' shape.

- :class:`BiEncoderBCELoss` (:mod:`retriever.losses.bce`): pointwise BCE on scaled cosine;
- :class:`MaskedMultipleNegativesRankingLoss` (:mod:`retriever.losses.masked_mnr`): in-batch
  negatives with ROAR's false-negative mask;
- :class:`GradedListLoss` and :func:`graded_odds_ratio_loss` (:mod:`retriever.losses.graded`):
  ROAR's graded-list stage;
- :func:`make_step` (:mod:`retriever.losses.registry`): a stage's loss name to a training step.

Each loss is an ``nn.Module`` taking ``(sentence_features, labels)`` like sentence-transformers'
own, so it also works with ``SentenceTransformerTrainer``. torch is imported when a loss is
first named, not when this package is.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retriever.losses.bce import BiEncoderBCELoss
    from retriever.losses.graded import GradedListLoss, graded_batch, graded_odds_ratio_loss
    from retriever.losses.masked_mnr import MaskedMultipleNegativesRankingLoss
    from retriever.losses.registry import make_step

__all__ = [
    "BiEncoderBCELoss",
    "GradedListLoss",
    "MaskedMultipleNegativesRankingLoss",
    "graded_batch",
    "graded_odds_ratio_loss",
    "make_step",
]

_HOME = {
    "BiEncoderBCELoss": "retriever.losses.bce",
    "GradedListLoss": "retriever.losses.graded",
    "graded_batch": "retriever.losses.graded",
    "graded_odds_ratio_loss": "retriever.losses.graded",
    "MaskedMultipleNegativesRankingLoss": "retriever.losses.masked_mnr",
    "make_step": "retriever.losses.registry",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'retriever.losses' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
