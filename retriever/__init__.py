"""Two-tower retrievers trained on the curriculum export, and scored on held-out queries.

``dissent train`` and ``dissent evaluate`` call the two entry points:

- :func:`train_recipes` (:mod:`retriever.training`): train recipes (:mod:`retriever.recipes`)
  from an export and the human labels, resumably, recording a ``train`` run;
- :func:`evaluate_models` (:mod:`retriever.evaluating`): score models over the whole catalog
  for the evaluation queries, recording an ``evaluate`` run and writing the report.

The pieces, one concept each: :mod:`retriever.config` (the ``train`` section),
:mod:`retriever.source` (the export on disk), :mod:`retriever.rows`, :mod:`retriever.plan`
(stage identities and resuming), :mod:`retriever.batching`, :mod:`retriever.losses`,
:mod:`retriever.trainer` (the loop), :mod:`retriever.card`, :mod:`retriever.models`,
:mod:`retriever.evaluation` (scoring), :mod:`retriever.report`, :mod:`retriever.paths`.

The package reads the curriculum only through its export folder and the store; importing it
loads nothing heavy (names below are imported when first used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings, TrainConfig
    from retriever.evaluating import evaluate_models
    from retriever.evaluation import Evaluation, ModelScores
    from retriever.recipes import DEFAULT_RECIPES, RECIPES, Stage, recipe_stages
    from retriever.report import summary_lines, write_evaluation
    from retriever.trainer import RecipeReport
    from retriever.training import TrainReport, train_recipes

__all__ = [
    "DEFAULT_RECIPES",
    "RECIPES",
    "Evaluation",
    "ModelScores",
    "RecipeReport",
    "RetrieverSettings",
    "Stage",
    "TrainConfig",
    "TrainReport",
    "evaluate_models",
    "recipe_stages",
    "summary_lines",
    "train_recipes",
    "write_evaluation",
]

_HOME = {
    "DEFAULT_RECIPES": "retriever.recipes",
    "RECIPES": "retriever.recipes",
    "Stage": "retriever.recipes",
    "recipe_stages": "retriever.recipes",
    "Evaluation": "retriever.evaluation",
    "ModelScores": "retriever.evaluation",
    "RecipeReport": "retriever.trainer",
    "RetrieverSettings": "retriever.config",
    "TrainConfig": "retriever.config",
    "TrainReport": "retriever.training",
    "train_recipes": "retriever.training",
    "evaluate_models": "retriever.evaluating",
    "summary_lines": "retriever.report",
    "write_evaluation": "retriever.report",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'retriever' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
