"""A pointwise BCE loss for bi-encoders (stage 1 of the curriculum).

sentence-transformers ships binary cross-entropy only for cross-encoders. Stage 1 trains the
two-tower model pointwise: for a (query, product, label) row the logit is
``scale * (cos(query, product) - margin)`` and the loss is binary cross-entropy against the
label (1.0 relevant, 0.0 not). With the defaults (scale 20, margin 0.5) a cosine of 0.5 is the
decision boundary, a cosine of 0.7 reads as 98% relevant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["BiEncoderBCELoss"]


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
