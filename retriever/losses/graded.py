"""ROAR's graded-list stage: :class:`GradedListLoss` and its odds-ratio term.

:func:`graded_odds_ratio_loss` is the term on a similarity matrix; :class:`GradedListLoss`
embeds a batch of queries and their graded products and adds that term to an in-batch
contrastive loss toward each query's best product; :func:`graded_batch` turns rows of the
export's ``graded`` dataset into that batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["GRADES", "GradedListLoss", "graded_batch", "graded_odds_ratio_loss"]

GRADES = (3, 2, 1, 0)
"""The grades of the ``graded`` dataset's list columns: exact, substitute, complement,
irrelevant."""


def graded_odds_ratio_loss(sims: Tensor, grades: Tensor, temperature: float = 0.01) -> Tensor:
    """ROAR's graded odds-ratio term for one batch.

    With P the row-softmax of ``sims / temperature`` and odds = P / (1 - P), the loss is
    ``-mean log sigmoid(log odds(better) - log odds(worse))`` over every pair of products of a
    query whose grades are consecutive among the grades it has (Exact > Substitute >
    Complement > Irrelevant, any subset). A batch without two grades for any query gives 0.

    Args:
        sims: (queries, products) cosine similarities.
        grades: (queries, products) each product's grade for each query (0–3), or -1 where it
            is not graded for that query.
        temperature: of the softmax over each query's row.

    Returns:
        A scalar tensor.

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


class GradedListLoss(nn.Module):
    """InfoNCE toward each query's best product plus ``weight`` × the graded odds-ratio term.

    Each query is embedded once and every product of the batch once; the cosine matrix
    (queries × products) feeds both terms. The contrastive term is a cross-entropy over
    ``scale * cosine`` toward the query's highest-graded product, for the queries whose best
    grade is at least ``positive_grade`` (others add only to the odds-ratio term, through
    :func:`graded_odds_ratio_loss`).

    Args:
        model: the SentenceTransformer being trained.
        scale: inverse temperature of the contrastive term.
        weight: of the odds-ratio term.
        temperature: of the odds-ratio term's softmax.
        positive_grade: the lowest grade a best product may have to serve as a positive.

    References:
        ROAR (Flipkart), arXiv 2606.01504, stage 2.

    Inputs:
        +----------------------------------------+----------------------------------------+
        | Texts                                  | Labels                                 |
        +========================================+========================================+
        | queries; products (two feature dicts)  | (queries, products) grades, -1 ungraded |
        +----------------------------------------+----------------------------------------+

        :func:`graded_batch` builds both from rows of the export's ``graded`` dataset.

    Example:
        ::

            from retriever.losses import GradedListLoss, graded_batch

            loss = GradedListLoss(model)
            queries, products, grades = graded_batch(rows)  # rows of `graded`
            value = loss(
                [model.tokenize(queries), model.tokenize(products)], torch.tensor(grades)
            )
    """

    def __init__(
        self,
        model: Any,
        scale: float = 20.0,
        weight: float = 0.1,
        temperature: float = 0.01,
        positive_grade: int = 2,
    ) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.weight = weight
        self.temperature = temperature
        self.positive_grade = positive_grade

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        queries, products = (self.model(f)["sentence_embedding"] for f in sentence_features)
        sims = (
            nn.functional.normalize(queries, dim=-1) @ nn.functional.normalize(products, dim=-1).T
        )
        grades = labels.to(sims.device)
        best_grade, best = grades.max(dim=1)  # one product per grade and query: no ties
        keep = best_grade >= self.positive_grade
        contrastive = sims.sum() * 0.0
        if bool(keep.any()):
            logits = self.scale * sims[keep]
            contrastive = nn.functional.cross_entropy(logits, best[keep])
        odds = graded_odds_ratio_loss(sims, grades, self.temperature)
        return contrastive + self.weight * odds

    def get_config_dict(self) -> dict[str, float]:
        return {
            "scale": self.scale,
            "weight": self.weight,
            "temperature": self.temperature,
            "positive_grade": self.positive_grade,
        }


def graded_batch(rows: Sequence[Sequence[Any]]) -> tuple[list[str], list[str], list[list[int]]]:
    """Queries, products and the grade matrix for :class:`GradedListLoss` from ``graded`` rows.

    A row is ``(query, exact, substitute, complement, irrelevant)``, each list of product texts
    in a seeded order; the first product of each non-empty list represents its grade.

    Example:
        >>> graded_batch([("drill", ["d1", "d2"], [], ["bit"], []), ("hose", [], ["h"], [], ["x"])])
        (['drill', 'hose'], ['d1', 'bit', 'h', 'x'], [[3, 1, -1, -1], [-1, -1, 2, 0]])
    """
    queries = [row[0] for row in rows]
    products: list[str] = []
    owners: list[tuple[int, int]] = []  # (query index, grade) per product
    for q, row in enumerate(rows):
        for grade, items in zip(GRADES, row[1:5], strict=True):
            if items:
                products.append(items[0])
                owners.append((q, grade))
    grades = [[-1] * len(products) for _ in queries]
    for column, (q, grade) in enumerate(owners):
        grades[q][column] = grade
    return queries, products, grades
