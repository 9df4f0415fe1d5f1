""":class:`MaskedMultipleNegativesRankingLoss`: in-batch negatives with ROAR's false-negative
mask."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["MaskedMultipleNegativesRankingLoss"]


class MaskedMultipleNegativesRankingLoss(nn.Module):
    """In-batch contrastive loss that leaves out probable false negatives (ROAR, stage 1).

    As ``MultipleNegativesRankingLoss`` on (anchor, positive[, negative...]) rows: each
    anchor's positive competes with every positive and negative of the batch, under a softmax
    of ``scale * cosine``. An in-batch candidate whose cosine to the anchor exceeds the
    positive's by more than ``margin`` (δ) is probably an unlabelled relevant product — a false
    negative — and is dropped from that anchor's denominator instead of being pushed away.

    Args:
        model: the SentenceTransformer being trained.
        scale: inverse temperature on the cosine (ROAR uses 1 / 0.02 = 50; sentence-transformers'
            MNR 20).
        margin: δ, how far above the positive's cosine a candidate must score to be masked.

    References:
        ROAR (Flipkart), arXiv 2606.01504, stage 1.

    Requirements:
        1. Batches without a text twice (``BatchSamplers.NO_DUPLICATES``): an in-batch
           candidate must not be another row's copy of the anchor's positive.

    Inputs:
        +-------------------------------------------------+--------+
        | Texts                                           | Labels |
        +=================================================+========+
        | (anchor, positive) pairs                        | none   |
        +-------------------------------------------------+--------+
        | (anchor, positive, negative_1, ..., negative_n) | none   |
        +-------------------------------------------------+--------+

    Relations:
        With a ``margin`` larger than any cosine gap (above 2) nothing is masked and this is
        ``MultipleNegativesRankingLoss`` on cosine similarity.

    Example:
        ::

            from datasets import load_from_disk
            from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
            from sentence_transformers.training_args import (
                BatchSamplers, SentenceTransformerTrainingArguments)
            from retriever.losses import MaskedMultipleNegativesRankingLoss

            model = SentenceTransformer("path/to/model")
            data = load_from_disk("dissent-work/export/stage2_mnr")
            args = SentenceTransformerTrainingArguments(
                output_dir="runs", batch_sampler=BatchSamplers.NO_DUPLICATES)
            loss = MaskedMultipleNegativesRankingLoss(model, margin=0.1)
            SentenceTransformerTrainer(
                model=model, args=args, train_dataset=data["train"], loss=loss).train()
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
        sims = anchors @ candidates.T  # (batch, batch * (columns - 1)); positives first
        rows = torch.arange(len(anchors), device=sims.device)
        positive = sims[rows, rows]
        false_negative = sims > positive[:, None] + self.margin
        false_negative[rows, rows] = False
        logits = (self.scale * sims).masked_fill(false_negative, float("-inf"))
        return nn.functional.cross_entropy(logits, rows)

    def get_config_dict(self) -> dict[str, float]:
        return {"scale": self.scale, "margin": self.margin}
