"""Agreement between automatic grades and human grades (scikit-learn and krippendorff).

All metrics count only pairs that got a grade; ``coverage`` says what share that is, so a
tier that fails on hard pairs cannot look better by skipping them unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "Agreement",
    "agreement",
    "bootstrap_interval",
    "confusion",
    "reliability",
    "wilson_interval",
]

GRADES = [0, 1, 2, 3]


@dataclass(frozen=True)
class Agreement:
    """How far predicted grades agree with human ones (None where undefined).

    ``n`` pairs, of which ``graded`` got a grade (``coverage`` = graded / n); ``exact`` and
    ``within_one`` agreement, quadratic weighted kappa ``qwk`` and ordinal Krippendorff
    ``alpha`` over the graded pairs.
    """

    n: int
    graded: int
    coverage: float
    exact: float | None = None
    within_one: float | None = None
    qwk: float | None = None
    alpha: float | None = None


def agreement(human: Sequence[int], predicted: Sequence[int | None]) -> Agreement:
    """Exact and within-one agreement, quadratic weighted kappa and ordinal Krippendorff alpha.

    ``predicted`` may hold None for pairs without a grade; they are left out and counted in
    ``coverage``. Kappa and alpha are None when the graded pairs use one grade on both sides
    (0/0); a constant prediction against varied human grades has kappa 0.

    Example:
        >>> a = agreement([0, 1, 2, 3], [0, 1, 3, None])
        >>> a.coverage, round(a.exact, 3), a.within_one
        (0.75, 0.667, 1.0)
    """
    import krippendorff
    from sklearn.metrics import cohen_kappa_score

    keep = [i for i, p in enumerate(predicted) if p is not None]
    h = np.asarray([human[i] for i in keep], dtype=np.int64)
    p = np.asarray([predicted[i] for i in keep], dtype=np.int64)
    n = len(human)
    coverage = len(keep) / n if n else 0.0
    if not keep:
        return Agreement(n, 0, coverage)
    varied = len(set(h.tolist()) | set(p.tolist())) > 1
    qwk = alpha = None
    if varied:
        kappa = float(cohen_kappa_score(h, p, weights="quadratic", labels=GRADES))
        qwk = None if np.isnan(kappa) else kappa
        value = krippendorff.alpha(
            reliability_data=np.vstack([h, p]).astype(float),
            level_of_measurement="ordinal",
            value_domain=GRADES,
        )
        alpha = None if np.isnan(value) else float(value)
    return Agreement(
        n=n,
        graded=len(keep),
        coverage=coverage,
        exact=float(np.mean(h == p)),
        within_one=float(np.mean(np.abs(h - p) <= 1)),
        qwk=qwk,
        alpha=alpha,
    )


def confusion(human: Sequence[int], predicted: Sequence[int | None]) -> list[list[int]]:
    """4x4 confusion matrix, rows = human grade, columns = predicted grade (graded pairs only)."""
    from sklearn.metrics import confusion_matrix

    pairs = [(h, p) for h, p in zip(human, predicted, strict=True) if p is not None]
    if not pairs:
        return [[0] * 4 for _ in range(4)]
    matrix = confusion_matrix([h for h, _ in pairs], [p for _, p in pairs], labels=GRADES)
    return [[int(x) for x in row] for row in matrix]


def reliability(
    confidence: npt.NDArray[np.float64], correct: npt.NDArray[np.bool_], bins: int = 10
) -> dict[str, Any]:
    """Reliability diagram data: per confidence bin, mean confidence and accuracy; and the ECE."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows = []
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if not mask.any():
            continue
        conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
        rows.append({"bin": b, "count": int(mask.sum()), "confidence": conf, "accuracy": acc})
        ece += mask.mean() * abs(conf - acc)
    return {"bins": rows, "ece": float(ece)}


def bootstrap_interval(
    human: npt.NDArray[np.int64],
    predicted: npt.NDArray[np.int64],
    metric: str,
    seed: int = 0,
    resamples: int = 1000,
    level: float = 0.95,
) -> tuple[float, float]:
    """A percentile bootstrap interval of ``metric`` (``qwk`` or ``exact``) over pairs.

    Example:
        >>> h = np.array([0, 1, 2, 3] * 50)
        >>> lo, hi = bootstrap_interval(h, h, "exact")
        >>> (lo, hi)
        (1.0, 1.0)
    """
    from annotator.decision import qwk

    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(human), size=(resamples, len(human)))
    if metric == "exact":
        values = (human[rows] == predicted[rows]).mean(axis=1)
    else:
        values = np.array([qwk(human[r], predicted[r]) for r in rows])
    low, high = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(low), float(high)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float] | None:
    """Wilson's 95% score interval of a proportion (None without trials): how far a rate
    measured on few trials, such as injection flips, can be trusted.

    Example:
        >>> lo, hi = wilson_interval(5, 100)
        >>> round(lo, 3), round(hi, 3)
        (0.022, 0.112)
    """
    if trials <= 0:
        return None
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))
