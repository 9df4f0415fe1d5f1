"""Benchmark: a mining run's curriculum levels against the human labels of the same pairs.

On Home Depot every mined query is human-labelled, so for each level the pairs a human also
judged say how often the level is right (precision of the positives, false negatives among the
negatives) and how many of its products a human ever saw — the ones a full-catalog NDCG@10
with unjudged products counted as grade 0 can reward (:mod:`curriculum.human_check`). Reads
the latest mining run and the cascade that annotated it; then every consensus candidate mined
(``easy_positive``, graded or not) by its worst channel rank (run the chain first: ``python -m
bench.proof`` or ``dissent mine`` + ``dissent annotate``).

    python -m bench.curriculum_humans [--config configs/homedepot-proof.yaml]
        [--run N] [--output bench/results/curriculum-humans-homedepot.json]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.command import command_line, write_results
from core.errors import DissentError
from curriculum.build import resolve_inputs
from curriculum.human_check import check_levels, easy_positives_by_rank
from flows.config import load_config
from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, default=ROOT / "configs/homedepot-proof.yaml")
    parser.add_argument("--run", type=int, default=None, help="mining run (default: the latest)")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "bench/results/curriculum-humans-homedepot.json"
    )
    args = parser.parse_args()
    config = load_config(args.config)
    engine = open_store(config.store_url)
    try:
        mining, cascade = resolve_inputs(engine, args.run)
    except DissentError as exc:
        print(f"skip: {exc}")
        return 0
    cutoff = config.curriculum.relevance_cutoff
    source = config.annotation.label_source
    rows = check_levels(engine, mining, cascade, cutoff, source)
    consensus = easy_positives_by_rank(engine, mining, cutoff=cutoff, source=source)
    for r in [*rows, *consensus]:
        judged = "-" if r.judged_share is None else f"{r.judged_share:.1%}"
        relevant = "-" if r.human_relevant_share is None else f"{r.human_relevant_share:.1%}"
        print(f"{r.level:45s} {r.candidates:8d}  judged {judged:>6s}  human relevant {relevant}")
    write_results(
        args.output,
        {
            "command": command_line("bench.curriculum_humans"),
            "cores": os.cpu_count(),
            "config": str(args.config),
            "mining_run": mining,
            "cascade": cascade,
            "relevance_cutoff": cutoff,
            "levels": [r.as_dict() for r in rows],
            "easy_positives_by_rank": [r.as_dict() for r in consensus],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
