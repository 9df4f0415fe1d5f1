""":class:`BiEncoderBCELoss`: pointwise binary cross-entropy for a two-tower model (stage 1)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["BiEncoderBCELoss"]


class BiEncoderBCELoss(nn.Module):
    """Binary cross-entropy on the scaled cosine similarity of a query and a product embedding.

    sentence-transformers ships binary cross-entropy only for cross-encoders. This loss trains
    a bi-encoder pointwise: for a (query, product, label) row the logit is
    ``scale * (cos(query, product) - margin)`` and the loss is binary cross-entropy against the
    label (1.0 relevant, 0.0 not). With the defaults a cosine of 0.5 is the decision boundary
    and a cosine of 0.7 reads as 98% relevant (``sigmoid(20 * 0.2)``).

    Args:
        model: the SentenceTransformer being trained.
        scale: logit scale (inverse temperature) applied to the cosine.
        margin: the cosine read as a 50% chance of relevance.

    Requirements:
        1. (query, product) pairs, each with a label in [0, 1].

    Inputs:
        +-------------------------------------+--------------------------+
        | Texts                               | Labels                   |
        +=====================================+==========================+
        | (query, product) pairs              | 1.0 relevant, 0.0 not    |
        +-------------------------------------+--------------------------+

    Relations:
        ``ContrastiveLoss`` and ``CoSENTLoss`` read the same columns; the export's
        ``stage1_bce`` dataset holds them in this order (``query``, ``product``, ``label``).

    Example:
        ::

            from datasets import load_from_disk
            from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
            from retriever.losses import BiEncoderBCELoss

            model = SentenceTransformer("path/to/model")
            data = load_from_disk("dissent-work/export/stage1_bce")
            loss = BiEncoderBCELoss(model)
            trainer = SentenceTransformerTrainer(
                model=model, train_dataset=data["train"], loss=loss
            )
            trainer.train()
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
