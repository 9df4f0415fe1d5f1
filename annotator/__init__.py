"""The annotator: a cascade of grading tiers, calibrated against human labels.

Entry points, each recorded as a run: :func:`train_tier` (``dissent annotate train-tier``),
:func:`calibrate` (``dissent calibrate``) and :func:`annotate` (``dissent annotate`` and the
``annotate`` flow). Below them: :func:`open_tiers` and :func:`load_cascade` build the tiers
and the calibrated cascade, :func:`calibrate_cascade` fits and measures it, :func:`run_cascade`
grades pairs with it. Backends live in :mod:`annotator.backends`.

Importing this package imports nothing else: each name loads its module on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from annotator.annotating import AnnotationJob, AnnotationReport, annotate, annotate_queries
    from annotator.calibrating import calibrate
    from annotator.cascade import CascadeReport, Tier, TierSpec, run_cascade
    from annotator.cascade_calibration import calibrate_cascade
    from annotator.config import AnnotationConfig, Tier1Training, TierConfig
    from annotator.outcome import CalibrationOutcome
    from annotator.tiers import load_cascade, open_tiers
    from annotator.trainer import TrainingResult
    from annotator.training import train_tier, trainable_tier

_WHERE = {
    "AnnotationConfig": "annotator.config",
    "AnnotationJob": "annotator.annotating",
    "AnnotationReport": "annotator.annotating",
    "CalibrationOutcome": "annotator.outcome",
    "CascadeReport": "annotator.cascade",
    "Tier": "annotator.cascade",
    "Tier1Training": "annotator.config",
    "TierConfig": "annotator.config",
    "TierSpec": "annotator.cascade",
    "TrainingResult": "annotator.trainer",
    "annotate": "annotator.annotating",
    "annotate_queries": "annotator.annotating",
    "calibrate": "annotator.calibrating",
    "calibrate_cascade": "annotator.cascade_calibration",
    "load_cascade": "annotator.tiers",
    "open_tiers": "annotator.tiers",
    "run_cascade": "annotator.cascade",
    "train_tier": "annotator.training",
    "trainable_tier": "annotator.training",
}

__all__ = [
    "AnnotationConfig",
    "AnnotationJob",
    "AnnotationReport",
    "CalibrationOutcome",
    "CascadeReport",
    "Tier",
    "Tier1Training",
    "TierConfig",
    "TierSpec",
    "TrainingResult",
    "annotate",
    "annotate_queries",
    "calibrate",
    "calibrate_cascade",
    "load_cascade",
    "open_tiers",
    "run_cascade",
    "train_tier",
    "trainable_tier",
]


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use."""
    if name not in _WHERE:
        raise AttributeError(f"module 'annotator' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
