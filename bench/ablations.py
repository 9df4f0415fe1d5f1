"""Benchmark: retriever ablations, recipes that each change one thing of a library recipe.

The library trains ``human``, ``mixed``, ``staged``, ``human-hardneg``, ``human+mixed`` and
``human+staged`` by name (:mod:`retriever.recipes`). The recipes here exist to answer one
question each, and train through the same library code (``train_recipes(..., table=TABLE)``):

| recipe | stages | the question |
|---|---|---|
| ``staged-inbatch`` | the curriculum, stage 3's triplets under MNR | does stage 3 hurt through its loss or its negatives? |
| ``human+staged-inbatch`` | the human-label stage, then ``staged-inbatch``'s stages | does the curriculum add to the human labels? |
| ``human-hardneg-masked`` | ``human-hardneg``'s rows under ROAR's false-negative mask (δ 0.1) | does the mask keep the mined negatives' gain? |
| ``staged-masked`` | the curriculum, ROAR's false-negative mask in stage 2 | does the mask help the curriculum? |
| ``staged+graded`` | the curriculum, then ROAR's graded odds-ratio stage on the graded list | does the graded list add anything? |
| ``mnr-only`` | the curriculum's MNR stage alone, from the base (``bench.budget --dissent-recipe``) | do BCE and Triplet help? |

Models go where ``dissent train`` puts them (``train.output_dir``, default ``workdir/models``),
so a stage another recipe already trained on the same data and settings is copied, not trained
again (``staged-inbatch`` after ``staged`` trains only its stage 3). Library recipes are
accepted too, for the knobs only a benchmark sets: ``--num-negatives`` (mined negatives per
human pair in ``human-hardneg``; use another ``--models`` folder to keep both models). Score
the models with ``dissent evaluate --model NAME=<models>/NAME/final ...``.

    python -m bench.ablations --recipe staged-inbatch [--recipe ...]
        [--config configs/homedepot-proof.yaml] [--export DIR] [--models DIR]
        [--num-negatives N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from types import MappingProxyType

from core.errors import DissentError
from flows.config import load_config
from retriever.recipes import CURRICULUM, HUMAN, RECIPES, RecipeTable, Stage
from retriever.rows import NUM_NEGATIVES
from retriever.training import train_recipes
from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]

_INBATCH = (*CURRICULUM[:2], Stage("stage3_triplet", "mnr"))

ABLATIONS: RecipeTable = MappingProxyType(
    {
        "staged-inbatch": _INBATCH,
        "human+staged-inbatch": (HUMAN, *_INBATCH),
        "human-hardneg-masked": (Stage("human_hardneg", "masked_mnr"),),
        "staged-masked": (CURRICULUM[0], Stage("stage2_mnr", "masked_mnr"), CURRICULUM[2]),
        "staged+graded": (*CURRICULUM, Stage("graded", "graded")),
        "mnr-only": (CURRICULUM[1],),
    }
)
"""The ablation recipes (name -> stages)."""

TABLE: RecipeTable = MappingProxyType({**RECIPES, **ABLATIONS})
"""Every recipe a benchmark can train: the library's and the ablations."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--recipe", action="append", required=True, choices=list(TABLE), help="repeatable"
    )
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-proof.yaml")
    parser.add_argument("--export", type=Path, default=None, help="default: the config's")
    parser.add_argument("--models", type=Path, default=None, help="default: the config's")
    parser.add_argument(
        "--num-negatives",
        type=int,
        default=NUM_NEGATIVES,
        help=f"mined negatives per human pair in human_hardneg stages (default {NUM_NEGATIVES})",
    )
    args = parser.parse_args(argv)
    config = load_config(args.config)
    try:
        report = train_recipes(
            open_store(config.store_url),
            config,
            recipes=args.recipe,
            export_dir=args.export,
            output_dir=args.models,
            table=TABLE,
            num_negatives=args.num_negatives,
        )
    except DissentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
