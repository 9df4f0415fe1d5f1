"""Decisions fitted to the ordinal scale: from a grade distribution to a grade and a confidence.

The cascade optimises one objective, ``annotation.objective``, and every tier decides for it:

- ``qwk`` (default): the grade is the **expected grade** ``E[G] = sum_g g * p_g`` cut at three
  cutpoints ``c1 < c2 < c3`` fitted on the calibration split to maximise quadratic weighted
  kappa; the confidence is ``1 - E[(G - grade)^2] / 9``, one minus the expected quadratic
  loss of the decision under the (calibrated) distribution, scaled to [0, 1].
- ``exact``: the grade is the most probable one; the confidence its probability.
- ``within_one``: the grade is the one with the most probability within one grade of it; the
  confidence that probability.

Why these. QWK weighs an error by its squared distance, and the value that minimises expected
squared error is the mean, not the mode: a tier torn between Substitute and Complement should
say something in between, which the argmax never does. The cutpoints absorb a tier's bias (a
model that grades everything a little high) and the class balance of the data, which is why
they are fitted, not fixed at 0.5, 1.5, 2.5. The confidence is what QWK needs: a pair is safe
to accept when little probability lies *far* from the decision; mass on a neighbouring grade
costs little, mass three grades away costs nine times as much.

Example:
    >>> dists = np.array([[0.0, 0.1, 0.5, 0.4], [0.7, 0.2, 0.1, 0.0]])
    >>> decider = Decider("qwk", (0.5, 1.5, 2.5))
    >>> grades, confidence = decider.decide(dists)
    >>> grades.tolist(), np.round(confidence, 3).tolist()
    ([2, 0], [0.944, 0.933])
    >>> Decider("exact").decide(dists)[0].tolist()
    [2, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["OBJECTIVES", "Decider", "Objective", "fit_decider", "qwk", "score"]

Objective = Literal["qwk", "exact", "within_one"]
OBJECTIVES: tuple[Objective, ...] = ("qwk", "exact", "within_one")
GRADES = np.arange(4)
Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
_WEIGHTS = (GRADES[:, None] - GRADES[None, :]) ** 2 / 9.0  # QWK's weights, (i - j)^2 / (K-1)^2
_CUT_GRID = np.round(np.linspace(0.0, 3.0, 61), 3)


def qwk(human: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """Quadratic weighted kappa of two grade arrays (0 when undefined), fast for searches.

    Example:
        >>> qwk([0, 1, 2, 3], [0, 1, 2, 3]), qwk([0, 1, 2, 3], [3, 2, 1, 0])
        (1.0, -1.0)
    """
    h = np.asarray(human, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    if len(h) == 0:
        return 0.0
    observed = np.bincount(4 * h + p, minlength=16).reshape(4, 4).astype(np.float64)
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / len(h)
    denominator = float((_WEIGHTS * expected).sum())
    if denominator == 0.0:
        return 0.0
    return 1.0 - float((_WEIGHTS * observed).sum()) / denominator


def score(objective: Objective, human: npt.ArrayLike, predicted: npt.ArrayLike) -> float:
    """The objective's value: QWK, exact agreement or within-one agreement."""
    h = np.asarray(human, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    if objective == "qwk":
        return qwk(h, p)
    if len(h) == 0:
        return 0.0
    if objective == "exact":
        return float(np.mean(h == p))
    return float(np.mean(np.abs(h - p) <= 1))


@dataclass(frozen=True)
class Decider:
    """How a tier turns distributions into grades and confidences (see the module docstring)."""

    objective: Objective
    cutpoints: tuple[float, float, float] | None = None

    def grades(self, dists: Floats) -> Ints:
        """The decided grade of each row of ``dists`` (n, 4)."""
        if self.objective == "qwk":
            cuts = self.cutpoints or (0.5, 1.5, 2.5)
            return np.searchsorted(np.asarray(cuts), dists @ GRADES, side="right").astype(np.int64)
        if self.objective == "exact":
            return dists.argmax(axis=1).astype(np.int64)
        # ties (a sure grade has the same mass within one of its neighbours): the likelier grade
        return (_within_one_mass(dists) + 1e-9 * dists).argmax(axis=1).astype(np.int64)

    def decide(self, dists: Floats) -> tuple[Ints, Floats]:
        """Grades and confidences in [0, 1] for the rows of ``dists`` (n, 4)."""
        grades = self.grades(dists)
        rows = np.arange(len(dists))
        if self.objective == "qwk":
            loss = (dists * _WEIGHTS[grades]).sum(axis=1)  # E[(G - grade)^2] / 9
            return grades, np.clip(1.0 - loss, 0.0, 1.0)
        if self.objective == "exact":
            return grades, dists[rows, grades]
        return grades, _within_one_mass(dists)[rows, grades]

    def to_json(self) -> dict[str, Any]:
        return {"objective": self.objective, "cutpoints": self.cutpoints}

    @staticmethod
    def from_json(data: dict[str, Any]) -> Decider:
        cuts = data.get("cutpoints")
        return Decider(data["objective"], (cuts[0], cuts[1], cuts[2]) if cuts else None)


def _within_one_mass(dists: Floats) -> Floats:
    """P(|G - g| <= 1) for each candidate grade g."""
    band = (np.abs(GRADES[:, None] - GRADES[None, :]) <= 1).astype(np.float64)
    return dists @ band


def _fit_cutpoints(expected: Floats, human: Ints, passes: int = 4) -> tuple[float, float, float]:
    """Cutpoints on the expected grade that maximise QWK: coordinate ascent over a grid."""
    cuts = [0.5, 1.5, 2.5]
    best = qwk(human, np.searchsorted(cuts, expected, side="right"))
    for _ in range(passes):
        improved = False
        for i in range(3):
            low = cuts[i - 1] if i > 0 else -np.inf
            high = cuts[i + 1] if i < 2 else np.inf
            for value in _CUT_GRID[(low < _CUT_GRID) & (high > _CUT_GRID)]:
                trial = [*cuts[:i], float(value), *cuts[i + 1 :]]
                found = qwk(human, np.searchsorted(trial, expected, side="right"))
                if found > best + 1e-12:
                    best, cuts, improved = found, trial, True
        if not improved:
            break
    return (cuts[0], cuts[1], cuts[2])


def fit_decider(objective: Objective, dists: Floats, human: Sequence[int] | Ints) -> Decider:
    """The decider for ``objective`` fitted on (calibrated) distributions and human grades.

    Only ``qwk`` has parameters (the cutpoints); with fewer than 20 pairs they stay at 0.5,
    1.5 and 2.5.

    Example:
        >>> dists = np.tile([0.1, 0.2, 0.4, 0.3], (40, 1))  # E[G] = 1.9 for every pair
        >>> fit_decider("qwk", dists, [1] * 20 + [2] * 20).grades(dists[:1]).tolist()
        [2]
    """
    h = np.asarray(human, dtype=np.int64)
    if objective != "qwk":
        return Decider(objective)
    if len(h) < 20:
        return Decider("qwk", (0.5, 1.5, 2.5))
    return Decider("qwk", _fit_cutpoints(dists @ GRADES, h))
