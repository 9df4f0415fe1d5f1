"""Agreement between automatic grades and human grades (scikit-learn and krippendorff).

All metrics count only pairs that got a grade; ``coverage`` says what share that is, so a
tier that fails on hard pairs cannot look better by skipping them unnoticed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["agreement", "confusion", "reliability"]

GRADES = [0, 1, 2, 3]


def agreement(human: Sequence[int], predicted: Sequence[int | None]) -> dict[str, Any]:
    """Exact and within-one agreement, quadratic weighted kappa and ordinal Krippendorff alpha.

    ``predicted`` may hold None for pairs without a grade; they are left out and counted in
    ``coverage``.
    """
    import krippendorff
    from sklearn.metrics import accuracy_score, cohen_kappa_score

    keep = [i for i, p in enumerate(predicted) if p is not None]
    h = np.asarray([human[i] for i in keep], dtype=np.int64)
    p = np.asarray([predicted[i] for i in keep], dtype=np.int64)
    out: dict[str, Any] = {
        "n": len(human),
        "graded": len(keep),
        "coverage": len(keep) / len(human) if len(human) else 0.0,
    }
    if not keep:
        return {**out, "exact": None, "within_one": None, "qwk": None, "alpha": None}
    out["exact"] = float(accuracy_score(h, p))
    out["within_one"] = float(np.mean(np.abs(h - p) <= 1))
    # Kappa and alpha are undefined when either side uses a single grade; report None, not 0/nan.
    out["qwk"] = (
        float(cohen_kappa_score(h, p, weights="quadratic", labels=GRADES))
        if len(set(h) | set(p)) > 1
        else None
    )
    if len(set(h.tolist()) | set(p.tolist())) > 1:
        alpha = krippendorff.alpha(
            reliability_data=np.vstack([h, p]).astype(float),
            level_of_measurement="ordinal",
            value_domain=GRADES,
        )
        out["alpha"] = None if np.isnan(alpha) else float(alpha)
    else:
        out["alpha"] = None
    if out["qwk"] is not None and np.isnan(out["qwk"]):
        out["qwk"] = None
    return out


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
