"""The model card (README.md) of a trained retriever: where it started, what it read, each
stage.

``dissent train`` writes it beside the final model, with ``dissent-train.json`` holding the same
facts machine-readable (:mod:`retriever.trainer`).

Example:
    >>> print(render_card(
    ...     "human",
    ...     [{"data": "human", "loss": "mnr", "examples": 1200, "seconds": 31.4}],
    ...     {"export": "/w/export", "curriculum_run": 4, "train_run": 9},
    ...     {"base_model": "minilm", "seed": 0, "epochs": 1, "batch_size": 64,
    ...      "learning_rate": 2e-05},
    ... ))  # doctest: +ELLIPSIS
    # Dissent retriever: recipe `human`
    <BLANKLINE>
    Two-tower (shared encoder) model trained by `dissent train` from `minilm`, seed 0, ...
    <BLANKLINE>
    - Train run: 9
    - Curriculum run: 4
    ...
    | 1 | human | mnr | 1,200 | 31 |
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["render_card"]


def render_card(
    recipe: str,
    stages: Sequence[Mapping[str, Any]],
    lineage: Mapping[str, Any],
    settings: Mapping[str, Any],
) -> str:
    """The card's Markdown.

    Args:
        recipe: the recipe's name.
        stages: per stage, ``data``, ``loss``, ``examples``, ``seconds`` (and for
            ``human_hardneg`` stages, the ``num_negatives`` drawn per pair).
        lineage: ``train_run``, ``curriculum_run``, ``export`` (path), ``export_hash``.
        settings: ``base_model``, ``seed``, ``epochs``, ``batch_size``, ``learning_rate``.

    Returns:
        Markdown, ending with a newline.
    """
    rows = "\n".join(
        f"| {i} | {s['data']} | {s['loss']} | {s['examples']:,} | {s['seconds']:.0f} |"
        for i, s in enumerate(stages, start=1)
    )
    negatives = [s.get("num_negatives") for s in stages if s["data"] == "human_hardneg"]
    export = lineage.get("export")
    return (
        f"# Dissent retriever: recipe `{recipe}`\n\n"
        f"Two-tower (shared encoder) model trained by `dissent train` from "
        f"`{settings['base_model']}`, seed {settings['seed']}, {settings['epochs']} epoch(s) "
        f"per stage, batch {settings['batch_size']}, learning rate "
        f"{settings['learning_rate']}.\n\n"
        f"- Train run: {lineage.get('train_run')}\n"
        f"- Curriculum run: {lineage.get('curriculum_run')}\n"
        + (
            f"- Export: `{export}` (content {str(lineage.get('export_hash'))[:12]})\n"
            if export
            else ""
        )
        + "- Human labels: tier-training split only; evaluation queries never seen\n"
        + (f"- Mined negatives per human pair: up to {negatives[0]}\n" if negatives else "")
        + "\n| stage | data | loss | examples | seconds |\n|---|---|---|---:|---:|\n"
        f"{rows}\n"
    )
