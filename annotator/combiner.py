"""Tier 1's combiner: the cross-encoder's distribution and the channel signals, in one model.

A multinomial logistic regression (scikit-learn) over the cross-encoder's log-probabilities
and the pair's channel signals (:mod:`annotator.signals`), standardised, gives the tier's
grade distribution. It is fitted by :func:`fit_combiner` on the *dev* slice of the
tier-training split — the queries the cross-encoder did not train on (it chose its epoch
there, a mild optimism) — and never on the calibration or test split, which then calibrate
and judge the combined tier like any other. A small, hard-to-overfit model: a few thousand dev
pairs and a dozen features.

It is kept only if it helps enough to pay for computing the signals at grading time: 5-fold
cross-validation by query on the dev slice compares the QWK of the cross-encoder alone with
the combined model's (each as its expected grade cut at cutpoints fitted on the other folds),
and the combiner must gain at least ``min_gain`` (:data:`MIN_GAIN`). Both figures go to the
tier's metadata (``dissent-tier.json``); a kept combiner is saved beside the weights as
``combiner.json``, which the backend applies and the model id hashes (a new combiner is a new
model). :class:`CombinerSettings` holds what tier training fits it with; its defaults are what
``dissent annotate train-tier`` uses, and benchmarks vary them (``python -m bench.annotation
--signals``, ``--combiner-min-gain``).
"""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from annotator.decision import fit_decider, qwk
from annotator.signals import CatalogStats, Signal, SignalComputer

__all__ = [
    "COMBINER_FILE",
    "MIN_GAIN",
    "MIN_PAIRS",
    "SIGNALS",
    "Combiner",
    "CombinerFit",
    "CombinerSettings",
    "fit_combiner",
]

COMBINER_FILE = "combiner.json"
SIGNALS: tuple[Signal, ...] = typing.get_args(Signal)
"""The signal groups combined by default: all of them."""
MIN_PAIRS = 200
"""Dev pairs (with their random products) needed to fit the combiner."""
MIN_GAIN = 0.01
"""Cross-validated dev-slice QWK the combiner must add to the cross-encoder's to be kept."""
_EPS = 1e-6


@dataclass(frozen=True)
class CombinerSettings:
    """How tier training fits the combiner (defaults: the module constants).

    Args:
        signals: the signal groups to combine; empty: no combiner.
        dense_model: the ``dense`` signal's sentence-transformers model (unset: MiniLM).
        min_pairs: fewer dev pairs than this: no combiner.
        min_gain: the cross-validated QWK it must add to be kept.
    """

    signals: tuple[Signal, ...] = SIGNALS
    dense_model: str | None = None
    min_pairs: int = MIN_PAIRS
    min_gain: float = MIN_GAIN


@dataclass
class Combiner:
    """A fitted combiner: the signals it reads and the regression over them."""

    signals: tuple[Signal, ...]
    names: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    classes: list[int]
    stats: CatalogStats | None
    dense_model: str | None = None

    def __post_init__(self) -> None:
        self._computer = SignalComputer(self.signals, self.stats, self.dense_model)

    def features(
        self,
        dists: np.ndarray,
        queries: Sequence[str],
        products: Sequence[Mapping[str, Any]],
    ) -> np.ndarray:
        return _features(dists, self._computer.compute(queries, products))

    def apply(
        self,
        dists: np.ndarray,
        queries: Sequence[str],
        products: Sequence[Mapping[str, Any]],
    ) -> np.ndarray:
        """The combined 4-grade distributions of the pairs whose cross-encoder answers are
        ``dists``."""
        x = (self.features(dists, queries, products) - self.mean) / self.scale
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        out = np.zeros((len(dists), 4))
        out[:, self.classes] = probs
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "signals": list(self.signals),
            "names": self.names,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "classes": self.classes,
            "stats": self.stats.to_json() if self.stats else None,
            "dense_model": self.dense_model,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Combiner:
        return cls(
            tuple(data["signals"]),
            list(data["names"]),
            np.asarray(data["mean"]),
            np.asarray(data["scale"]),
            np.asarray(data["coef"]),
            np.asarray(data["intercept"]),
            [int(c) for c in data["classes"]],
            CatalogStats.from_json(data["stats"]) if data.get("stats") else None,
            data.get("dense_model"),
        )

    def save(self, directory: Path) -> None:
        (directory / COMBINER_FILE).write_text(json.dumps(self.to_json()))

    @classmethod
    def load(cls, directory: Path) -> Combiner | None:
        """The combiner saved in ``directory``, if any."""
        file = directory / COMBINER_FILE
        return cls.from_json(json.loads(file.read_text())) if file.exists() else None


@dataclass
class CombinerFit:
    """What :func:`fit_combiner` found: the combiner (None when not kept) and why."""

    combiner: Combiner | None
    pairs: int
    cv_qwk_alone: float | None
    cv_qwk_combined: float | None
    reason: str

    def summary(self) -> dict[str, Any]:
        return {
            "kept": self.combiner is not None,
            "signals": list(self.combiner.signals) if self.combiner else None,
            "pairs": self.pairs,
            "cv_qwk_alone": self.cv_qwk_alone,
            "cv_qwk_combined": self.cv_qwk_combined,
            "reason": self.reason,
        }


def _features(dists: np.ndarray, signals: np.ndarray) -> np.ndarray:
    return np.hstack([np.log(np.clip(dists, _EPS, 1.0)), signals])


def _regression(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[Any, np.ndarray, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-12] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    model.fit((x - mean) / scale, y)
    return model, mean, scale


def _softmax_weights(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """One row of weights per class; a two-class regression has one row (the second class's
    logit against 0), which this spells out as two."""
    coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
    if len(model.classes_) == 2:
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    return coef, intercept


def _cv_qwk(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int, seed: int, alone: np.ndarray
) -> tuple[float, float]:
    """Cross-validated QWK (by group) of the cross-encoder alone and of the regression."""
    from sklearn.model_selection import GroupKFold

    pred_alone = np.zeros(len(y), dtype=np.int64)
    pred_combined = np.zeros(len(y), dtype=np.int64)
    for train, test in GroupKFold(folds).split(x, y, groups):
        decider = fit_decider("qwk", alone[train], y[train])
        pred_alone[test] = decider.grades(alone[test])
        model, mean, scale = _regression(x[train], y[train], seed)
        full = np.zeros((len(y), 4))
        full[:, model.classes_] = model.predict_proba((x - mean) / scale)
        pred_combined[test] = fit_decider("qwk", full[train], y[train]).grades(full[test])
    return qwk(y, pred_alone), qwk(y, pred_combined)


def fit_combiner(
    dists: np.ndarray,
    queries: Sequence[str],
    products: Sequence[Mapping[str, Any]],
    grades: Sequence[int],
    groups: Sequence[int | str],
    *,
    signals: Sequence[Signal],
    stats: CatalogStats | None,
    dense_model: str | None = None,
    min_pairs: int = MIN_PAIRS,
    min_gain: float = MIN_GAIN,
    folds: int = 5,
    seed: int = 0,
) -> CombinerFit:
    """Fit the combiner on held-out pairs (the dev slice) and keep it if it beats the
    cross-encoder alone in cross-validation (see the module docstring).

    Args:
        dists: the cross-encoder's distributions of the pairs, (n, 4).
        queries, products: the pairs' text (products as the tiers see them).
        grades: the human grades.
        groups: each pair's query (folds never split a query).
        signals: the signal groups to combine; empty: no combiner.
        min_pairs: fewer pairs than this: no combiner.
        min_gain: the cross-validated QWK the combiner must add to the cross-encoder's.
    """
    n = len(grades)
    if not signals:
        return CombinerFit(None, n, None, None, "no signals configured")
    y = np.asarray(grades, dtype=np.int64)
    group_ids = np.asarray([str(g) for g in groups])
    if n < min_pairs or len(set(group_ids)) < folds or len(set(y.tolist())) < 2:
        return CombinerFit(
            None, n, None, None, f"{n} dev pairs: too few to fit on (minimum {min_pairs})"
        )
    computer = SignalComputer(signals, stats, dense_model)
    x = _features(dists, computer.compute(queries, products))
    alone, combined = _cv_qwk(x, y, group_ids, folds, seed, dists)
    if combined - alone < min_gain or combined <= alone:
        return CombinerFit(
            None,
            n,
            alone,
            combined,
            f"it gained {combined - alone:+.3f} QWK over the cross-encoder alone on the dev "
            f"slice, less than the {min_gain} it must gain",
        )
    model, mean, scale = _regression(x, y, seed)
    coef, intercept = _softmax_weights(model)
    combiner = Combiner(
        tuple(signals),
        ["log_p0", "log_p1", "log_p2", "log_p3", *computer.names],
        mean,
        scale,
        coef,
        intercept,
        [int(c) for c in model.classes_],
        stats,
        dense_model,
    )
    return CombinerFit(
        combiner, n, alone, combined, f"it gained {combined - alone:+.3f} QWK on the dev slice"
    )
