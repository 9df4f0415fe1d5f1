"""Per-class isotonic calibration of a tier's grade distribution, and acceptance thresholds.

Calibration (fitted on the *calibration* split only): for each grade c, an isotonic regression
maps the tier's probability p_c to the observed frequency of "the human said c"; the four
calibrated values are renormalised to sum to 1. A tier's *confidence* in a pair is its largest
calibrated probability.

Thresholds: tier i (all but the last) accepts a pair when its confidence is at least t_i;
otherwise the pair goes to the next tier, and the last tier always decides. The thresholds are
chosen on the calibration split by exhaustive search over a grid of confidence quantiles to
maximise exact agreement with the human grades, subject to the cascade's compute staying within
``budget`` (a share of sending every pair to the top tier); among equal agreement the cheaper
setting wins.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Isotonic", "ThresholdChoice", "choose_thresholds", "simulate_cascade"]

Matrix = npt.NDArray[np.float64]


@dataclass
class Isotonic:
    """Four fitted isotonic maps (one per grade), stored as their breakpoints."""

    xs: list[list[float]] = field(default_factory=list)
    ys: list[list[float]] = field(default_factory=list)

    @staticmethod
    def fit(dists: Matrix, grades: Sequence[int] | npt.NDArray[np.int64]) -> Isotonic:
        """Fit on (n, 4) distributions and the human grades of the same pairs."""
        from sklearn.isotonic import IsotonicRegression

        labels = np.asarray(grades)
        maps = Isotonic()
        for c in range(dists.shape[1]):
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
            model.fit(dists[:, c], (labels == c).astype(float))
            maps.xs.append(model.X_thresholds_.tolist())
            maps.ys.append(model.y_thresholds_.tolist())
        return maps

    def apply(self, dists: Matrix) -> Matrix:
        """Calibrated, renormalised distributions; rows that map to all zeros become uniform."""
        out = np.column_stack(
            [np.interp(dists[:, c], self.xs[c], self.ys[c]) for c in range(dists.shape[1])]
        )
        totals = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / out.shape[1])
        return np.where(totals > 0, out / np.where(totals > 0, totals, 1.0), uniform)

    def to_json(self) -> dict[str, Any]:
        return {"xs": self.xs, "ys": self.ys}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Isotonic:
        return Isotonic(xs=data["xs"], ys=data["ys"])


@dataclass
class ThresholdChoice:
    thresholds: list[float]
    agreement: float
    cost_share: float
    decided_share: list[float]


def simulate_cascade(
    confidences: Sequence[npt.NDArray[np.float64]],
    grades: Sequence[npt.NDArray[np.int64]],
    thresholds: Sequence[float],
    costs: Sequence[float],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], float]:
    """Which tier decides each pair, its grade, and the compute as a share of top-tier-only.

    ``confidences[i]``/``grades[i]`` are tier i's calibrated confidence and grade per pair; a
    failed answer has confidence -1 (never accepted) and grade -1. The last tier decides the
    rest; a pair it failed on keeps grade -1.
    """
    n = len(confidences[0])
    decider = np.full(n, len(confidences) - 1, dtype=np.int64)
    open_ = np.ones(n, dtype=bool)
    for i, threshold in enumerate(thresholds):
        take = open_ & (confidences[i] >= threshold)
        decider[take] = i
        open_ &= ~take
    final = np.vstack(grades).astype(np.int64)[decider, np.arange(n)]
    cumulative = np.cumsum(costs)
    cost_share = float(cumulative[decider].sum() / (n * costs[-1])) if n else 0.0
    return decider, final, cost_share


def choose_thresholds(
    confidences: Sequence[npt.NDArray[np.float64]],
    grades: Sequence[npt.NDArray[np.int64]],
    human: npt.NDArray[np.int64],
    costs: Sequence[float],
    budget: float,
    grid: int = 20,
) -> ThresholdChoice:
    """The thresholds (one per tier but the last) that maximise agreement within ``budget``.

    When no setting meets the budget, the cheapest setting is returned (its cost says so).
    """
    candidates = []
    for conf in confidences[:-1]:
        valid = conf[conf >= 0]
        qs = np.quantile(valid, np.linspace(0, 1, grid + 1)) if len(valid) else np.array([])
        candidates.append(sorted({*qs.tolist(), 0.0, 1.01}))  # 0: accept all; 1.01: accept none
    best: ThresholdChoice | None = None
    cheapest: ThresholdChoice | None = None
    for setting in itertools.product(*candidates):
        decider, final, cost = simulate_cascade(confidences, grades, setting, costs)
        agreement = float(np.mean(final == human)) if len(human) else 0.0
        shares = [float(np.mean(decider == i)) for i in range(len(confidences))]
        choice = ThresholdChoice(list(setting), agreement, cost, shares)
        if cheapest is None or cost < cheapest.cost_share:
            cheapest = choice
        if cost <= budget + 1e-9 and (
            best is None
            or agreement > best.agreement + 1e-12
            or (abs(agreement - best.agreement) <= 1e-12 and cost < best.cost_share)
        ):
            best = choice
    assert cheapest is not None
    return best or cheapest
