"""Every loss on small tensors, against values worked out by hand in the comments.

The stand-in model (:class:`tests.retriever.conftest.Lookup`) embeds each text as a fixed
vector, so every cosine below is read off the vectors: unit vectors at 0°, 36.87° (0.8, 0.6)
and 90° give cosines 1, 0.8 / 0.6 and 0.
"""

from __future__ import annotations

import math

import pytest
import torch

from core.errors import DissentError
from retriever.losses import (
    BiEncoderBCELoss,
    GradedListLoss,
    MaskedMultipleNegativesRankingLoss,
    graded_batch,
    graded_odds_ratio_loss,
    make_step,
)
from tests.retriever.conftest import Lookup

X, Y, XY, YX = [1.0, 0.0], [0.0, 1.0], [0.8, 0.6], [0.6, 0.8]


def _features(*columns: list[list[float]]) -> list[dict[str, torch.Tensor]]:
    return [{"x": torch.tensor(column)} for column in columns]


def test_bce_reads_the_cosine_against_a_margin() -> None:
    loss = BiEncoderBCELoss(Lookup({}), scale=20.0, margin=0.5)
    # cos(X, YX) = 0.6: logit 20 * (0.6 - 0.5) = 2.
    # label 1: -log sigmoid(2) = log(1 + e^-2) = 0.126928; label 0: log(1 + e^2) = 2.126928
    relevant = loss(_features([X], [YX]), torch.tensor([1.0]))
    irrelevant = loss(_features([X], [YX]), torch.tensor([0.0]))
    assert float(relevant) == pytest.approx(math.log1p(math.exp(-2)), abs=1e-5)
    assert float(irrelevant) == pytest.approx(math.log1p(math.exp(2)), abs=1e-5)
    # a batch of both is their mean: 1.126928
    both = loss(_features([X, X], [YX, YX]), torch.tensor([1.0, 0.0]))
    assert float(both) == pytest.approx(1.126928, abs=1e-5)


def test_the_false_negative_mask_drops_only_candidates_above_the_positive() -> None:
    # one anchor X, its positive YX (cos 0.6), a negative X (cos 1.0, 0.4 above the positive)
    features = _features([X], [YX], [X])
    # δ 0.1: the negative is masked, the positive stands alone: -log 1 = 0
    masked = MaskedMultipleNegativesRankingLoss(Lookup({}), scale=1.0, margin=0.1)
    assert float(masked(features, torch.zeros(1))) == pytest.approx(0.0, abs=1e-6)
    # δ 0.5: kept; -log(e^0.6 / (e^0.6 + e^1.0)) = log(1 + e^0.4) = 0.913015
    kept = MaskedMultipleNegativesRankingLoss(Lookup({}), scale=1.0, margin=0.5)
    assert float(kept(features, torch.zeros(1))) == pytest.approx(0.913015, abs=1e-5)
    # the scale multiplies the gap: log(1 + e^(20 * 0.4)) = log(1 + e^8) = 8.000335
    sharp = MaskedMultipleNegativesRankingLoss(Lookup({}), scale=20.0, margin=0.5)
    assert float(sharp(features, torch.zeros(1))) == pytest.approx(8.000335, abs=1e-4)


def test_in_batch_positives_are_negatives_of_the_other_anchors() -> None:
    # anchors X, Y; positives XY (cos 0.8 to X, 0.6 to Y) and Y (cos 0 to X, 1 to Y)
    # row X: log(1 + e^(0 - 0.8)) = 0.371101; row Y: log(1 + e^(0.6 - 1)) = 0.513015
    loss = MaskedMultipleNegativesRankingLoss(Lookup({}), scale=1.0, margin=10.0)
    value = loss(_features([X, Y], [XY, Y]), torch.zeros(2))
    assert float(value) == pytest.approx((0.371101 + 0.513015) / 2, abs=1e-5)


def test_the_graded_odds_ratio_by_hand() -> None:
    # two products, temperature 1: P1 = 1 / (1 + e^(s2 - s1)), odds1 = P1 / P2 = e^(s1 - s2),
    # odds2 = e^(s2 - s1): log odds(1) - log odds(2) = 2 (s1 - s2) = 1 for sims (0.5, 0)
    sims = torch.tensor([[0.5, 0.0]])
    right = graded_odds_ratio_loss(sims, torch.tensor([[3, 2]]), temperature=1.0)
    wrong = graded_odds_ratio_loss(sims, torch.tensor([[2, 3]]), temperature=1.0)
    assert float(right) == pytest.approx(math.log1p(math.exp(-1)), abs=1e-5)  # 0.313262
    assert float(wrong) == pytest.approx(math.log1p(math.exp(1)), abs=1e-5)  # 1.313262
    # grades 3 and 1 with 2 missing are still consecutive among the grades present
    gap = graded_odds_ratio_loss(sims, torch.tensor([[3, 1]]), temperature=1.0)
    assert float(gap) == pytest.approx(float(right))
    # nothing graded, or one grade only: no pair to order
    assert float(graded_odds_ratio_loss(sims, torch.full((1, 2), -1))) == 0.0
    assert float(graded_odds_ratio_loss(sims, torch.tensor([[2, 2]]))) == 0.0


def test_the_graded_list_loss_adds_contrastive_and_odds_ratio_terms() -> None:
    # query X; products X (exact, cos 1) and Y (irrelevant, cos 0)
    # contrastive, scale 1: log(1 + e^(0 - 1)) = 0.313262
    # odds ratio, temperature 1: -log sigmoid(2 * (1 - 0)) = log(1 + e^-2) = 0.126928
    loss = GradedListLoss(Lookup({}), scale=1.0, weight=0.1, temperature=1.0)
    value = loss(_features([X], [X, Y]), torch.tensor([[3, 0]]))
    assert float(value) == pytest.approx(0.313262 + 0.1 * 0.126928, abs=1e-5)
    # best grade 1 (Complement): no positive, only the odds-ratio term
    weak = loss(_features([X], [X, Y]), torch.tensor([[1, 0]]))
    assert float(weak) == pytest.approx(0.1 * 0.126928, abs=1e-5)


def test_graded_rows_become_queries_products_and_grades() -> None:
    rows = [("drill", ["d1", "d2"], [], ["bit"], []), ("hose", [], ["h"], [], ["x"])]
    queries, products, grades = graded_batch(rows)
    assert queries == ["drill", "hose"]
    assert products == ["d1", "bit", "h", "x"]  # the first of each non-empty list
    assert grades == [[3, 1, -1, -1], [-1, -1, 2, 0]]


def test_triplet_steps_stop_pushing_once_the_margin_holds() -> None:
    """Cosine distance d = 1 - cos, loss relu(d(a, p) - d(a, n) + margin)."""
    model = Lookup({"drill": X, "cordless drill": X, "towel": Y})
    easy = [("drill", "cordless drill", "towel")]  # relu(0 - 1 + 0.1) = 0
    assert float(make_step("triplet", model)(model, easy)) == 0.0
    hard = [("drill", "towel", "cordless drill")]  # relu(1 - 0 + 0.1) = 1.1
    assert float(make_step("triplet", model)(model, hard)) == pytest.approx(1.1)
    wide = make_step("triplet", model, triplet_margin=2.0)  # relu(0 - 1 + 2) = 1
    assert float(wide(model, easy)) == pytest.approx(1.0)


def test_a_bce_step_reads_the_label_column() -> None:
    model = Lookup({"drill": X, "bit": YX})
    # as in the BCE test: cos 0.6, logit 2, label 1 -> 0.126928
    step = make_step("bce", model)
    assert float(step(model, [("drill", "bit", 1.0)])) == pytest.approx(0.126928, abs=1e-5)


def test_an_unknown_loss_names_the_known_ones() -> None:
    with pytest.raises(DissentError, match="unknown loss 'cosent'; choose from bce, mnr"):
        make_step("cosent", Lookup({}))
