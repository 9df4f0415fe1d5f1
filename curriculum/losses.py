"""Losses for training the two-tower model on the curriculum.

:class:`BiEncoderBCELoss`: a pointwise BCE loss for bi-encoders (stage 1 of the curriculum).

sentence-transformers ships binary cross-entropy only for cross-encoders. Stage 1 trains the
two-tower model pointwise: for a (query, product, label) row the logit is
``scale * (cos(query, product) - margin)`` and the loss is binary cross-entropy against the
label (1.0 relevant, 0.0 not). With the defaults (scale 20, margin 0.5) a cosine of 0.5 is the
decision boundary, a cosine of 0.7 reads as 98% relevant.

:class:`MaskedMultipleNegativesRankingLoss` and :func:`graded_odds_ratio_loss` are the two
options from ROAR (Flipkart, arXiv 2606.01504) that ``dissent train`` compares.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["BiEncoderBCELoss", "MaskedMultipleNegativesRankingLoss", "graded_odds_ratio_loss"]


class BiEncoderBCELoss(nn.Module):
    """BCE on the scaled cosine similarity of two embeddings; use with SentenceTransformerTrainer.

    Args:
        model: the SentenceTransformer being trained.
        scale: logit scale (inverse temperature) applied to the cosine.
        margin: the cosine read as a 50% chance of relevance.
    """

    def __init__(self, model: Any, scale: float = 20.0, margin: float = 0.5) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.margin = margin
        self.bce = nn.BCEWithLogitsLoss()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        query, product = (self.model(f)["sentence_embedding"] for f in sentence_features)
        cosine = torch.cosine_similarity(query, product, dim=-1)
        logits = self.scale * (cosine - self.margin)
        return self.bce(logits, labels.to(logits.dtype))

    def get_config_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "margin": self.margin}


class MaskedMultipleNegativesRankingLoss(nn.Module):
    """In-batch contrastive loss with ROAR's false-negative mask (arXiv 2606.01504, stage 1).

    Like ``MultipleNegativesRankingLoss`` on (anchor, positive[, negative]) rows: each anchor's
    positive competes with every positive and negative of the batch. An in-batch candidate
    whose similarity to the anchor exceeds the positive's by more than ``margin`` (δ = 0.1) is
    probably an unlabelled relevant product — a false negative — and is dropped from the
    denominator instead of being pushed away.

    Args:
        model: the SentenceTransformer being trained.
        scale: inverse temperature on the cosine (ROAR: 1 / 0.02 = 50; sentence-transformers: 20).
        margin: δ, the similarity above the positive's that marks a false negative.
    """

    def __init__(self, model: Any, scale: float = 20.0, margin: float = 0.1) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.margin = margin

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        embeddings = [self.model(f)["sentence_embedding"] for f in sentence_features]
        anchors = nn.functional.normalize(embeddings[0], dim=-1)
        candidates = nn.functional.normalize(torch.cat(embeddings[1:]), dim=-1)
        sims = anchors @ candidates.T  # (batch, batch * (columns - 1))
        rows = torch.arange(len(anchors), device=sims.device)
        positive = sims[rows, rows]
        false_negative = sims > positive[:, None] + self.margin
        false_negative[rows, rows] = False
        logits = (self.scale * sims).masked_fill(false_negative, float("-inf"))
        return nn.functional.cross_entropy(logits, rows)

    def get_config_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "margin": self.margin}


def graded_odds_ratio_loss(sims: Tensor, grades: Tensor, temperature: float = 0.01) -> Tensor:
    """ROAR's graded odds-ratio term (arXiv 2606.01504, stage 2) for one batch.

    ``sims`` (queries, products) are cosine similarities; ``grades`` (queries, products) holds
    each product's grade for each query (0–3) or -1 where it is not graded for that query.
    With P the row-softmax of ``sims / temperature`` and odds = P / (1 - P), the loss is
    ``-mean log sigmoid(log odds(better) - log odds(worse))`` over every pair of products of a
    query whose grades are consecutive among the grades it has (Exact > Substitute >
    Complement > Irrelevant, any subset).

    Example:
        >>> sims = torch.tensor([[0.9, 0.5, 0.1]])
        >>> right = graded_odds_ratio_loss(sims, torch.tensor([[3, 2, 0]]))
        >>> wrong = graded_odds_ratio_loss(sims, torch.tensor([[0, 2, 3]]))
        >>> bool(right < wrong)
        True
    """
    log_p = torch.log_softmax(sims / temperature, dim=-1)
    log_odds = log_p - torch.log1p(-log_p.exp().clamp(max=1 - 1e-6))
    terms = []
    for row in range(sims.shape[0]):
        present = sorted({int(g) for g in grades[row].tolist() if g >= 0}, reverse=True)
        for better, worse in itertools.pairwise(present):
            hi = log_odds[row][grades[row] == better]
            lo = log_odds[row][grades[row] == worse]
            terms.append(nn.functional.logsigmoid(hi[:, None] - lo[None, :]).mean())
    if not terms:
        return sims.sum() * 0.0
    return -torch.stack(terms).mean()
