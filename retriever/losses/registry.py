"""From a stage's loss name to a training step: the one place that maps :data:`LossName`.

| name | loss | rows |
|---|---|---|
| ``bce`` | :class:`~retriever.losses.bce.BiEncoderBCELoss` | (query, product, label) |
| ``mnr`` | sentence-transformers' ``MultipleNegativesRankingLoss`` | (anchor, positive[, negative...]) |
| ``masked_mnr`` | :class:`~retriever.losses.masked_mnr.MaskedMultipleNegativesRankingLoss` (δ 0.1) | as ``mnr`` |
| ``triplet`` | sentence-transformers' ``TripletLoss`` on cosine distance | (anchor, positive, negative) |
| ``graded`` | :class:`~retriever.losses.graded.GradedListLoss` | the ``graded`` dataset's rows |

Triplet runs on cosine distance with a margin of :data:`TRIPLET_MARGIN`: sentence-transformers'
default (Euclidean distance, margin 5) never stops pushing on unit-length embeddings, whose
distances are at most 2, so every triplet keeps pulling the space apart.

Example:
    >>> make_step("contrastive", model=None)
    Traceback (most recent call last):
    ...
    core.errors.DissentError: unknown loss 'contrastive'; choose from bce, mnr, masked_mnr, triplet, graded
"""

from __future__ import annotations

from typing import Any

from core.errors import DissentError
from retriever.losses.base import LOSS_NAMES, Row, Step, to_device

__all__ = ["IN_BATCH_NEGATIVES", "TRIPLET_MARGIN", "make_step"]

TRIPLET_MARGIN = 0.1
"""By how much a positive's cosine must beat its negative's before a triplet stops pushing."""

FALSE_NEGATIVE_MARGIN = 0.1
"""``masked_mnr``'s δ (ROAR's)."""

IN_BATCH_NEGATIVES = frozenset({"mnr", "masked_mnr"})
"""Losses whose batches must hold no text twice: every other row's products are negatives."""


def _module(name: str, model: Any, triplet_margin: float) -> Any:
    from sentence_transformers.sentence_transformer import losses

    from retriever.losses.bce import BiEncoderBCELoss
    from retriever.losses.graded import GradedListLoss
    from retriever.losses.masked_mnr import MaskedMultipleNegativesRankingLoss

    if name == "bce":
        return BiEncoderBCELoss(model)
    if name == "mnr":
        return losses.MultipleNegativesRankingLoss(model)
    if name == "masked_mnr":
        return MaskedMultipleNegativesRankingLoss(model, margin=FALSE_NEGATIVE_MARGIN)
    if name == "triplet":
        return losses.TripletLoss(
            model,
            distance_metric=losses.TripletDistanceMetric.COSINE,
            triplet_margin=triplet_margin,
        )
    return GradedListLoss(model)


def make_step(name: str, model: Any, *, triplet_margin: float = TRIPLET_MARGIN) -> Step:
    """The step ``(model, batch) -> loss`` for the loss called ``name``.

    Args:
        name: one of :data:`~retriever.losses.base.LOSS_NAMES`.
        model: the SentenceTransformer being trained.
        triplet_margin: ``triplet``'s margin on cosine distance.

    Returns:
        A function ``(model, batch) -> scalar loss tensor``.

    Raises:
        DissentError: ``name`` is no loss; the message lists the names.
    """
    if name not in LOSS_NAMES:
        raise DissentError(f"unknown loss {name!r}; choose from {', '.join(LOSS_NAMES)}")
    import torch

    module = _module(name, model, triplet_margin)

    def tokenized(texts: list[str]) -> dict[str, Any]:
        return to_device(model, model.tokenize(texts))

    def step(model: Any, batch: list[Row]) -> Any:
        if name == "graded":
            from retriever.losses.graded import graded_batch

            queries, products, grades = graded_batch(batch)
            return module([tokenized(queries), tokenized(products)], torch.tensor(grades))
        if name == "bce":  # (query, product, label)
            features = [tokenized([row[i] for row in batch]) for i in range(2)]
            labels = torch.tensor([float(row[2]) for row in batch])
        else:  # every column a text; sentence-transformers' ranking losses ignore the labels
            features = [tokenized([row[i] for row in batch]) for i in range(len(batch[0]))]
            labels = torch.zeros(len(batch), dtype=torch.long)
        return module(features, labels.to(model.device))

    return step
