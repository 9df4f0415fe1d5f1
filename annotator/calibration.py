"""Per-class isotonic calibration of a tier's grade distribution.

Calibration (fitted on the *calibration* split only): for each grade c, an isotonic regression
maps the tier's probability p_c to the observed frequency of "the human said c"; the four
calibrated values are renormalised to sum to 1.

What a tier then decides, and how confident it is, depends on the objective
(:mod:`annotator.decision`); which tiers run and when each stops a pair is the route
(:mod:`annotator.routing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Isotonic"]

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
