"""The README's benchmark tables, printed as Markdown from ``bench/results/*.json``.

    python -m bench.tables            # every table
    python -m bench.tables annotation # or: annotation-gemma, proof, proof-human-plus, proof-k10,
                                      # mining, mining-store, sample-seeds, sample-seeds-negatives, budget,
                                      # budget-active, budget-mnr, budget-curve,
                                      # curriculum-humans, curriculum-humans-k10

Run after ``python -m bench.annotation``, ``python -m bench.proof``, ``python -m
bench.mining``, ``python -m bench.sample_seeds`` or ``python -m bench.curriculum_humans`` and
paste the output into the README, so that every figure there comes from a results file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("ndcg@10", "recall@100", "grade0_top10", "ndcg@10_judged")
FILES = {
    "annotation": "annotation-homedepot.json",
    "annotation-gemma": "annotation-homedepot-gemma.json",  # configs/homedepot-gemma.yaml
    "proof": "eval-homedepot.json",
    "proof-human-plus": "eval-homedepot-human-plus.json",  # human + mined data (issue 11)
    "proof-k10": "eval-homedepot-k10.json",  # human+mixed with consensus in every top 10
    "mining": "mining-homedepot.json",
    "mining-store": "mining-store.json",  # the store step alone, before and after
    "sample-seeds": "sample-seeds.json",  # tier 1 on the shipped sample, seed by seed
    "sample-seeds-negatives": "sample-seeds-negatives.json",  # the same, negative_share 0.5
    "curriculum-humans": "curriculum-humans-homedepot.json",  # the levels against humans
    "curriculum-humans-k10": "curriculum-humans-homedepot-k10.json",  # easy_positive_k 10
    "budget": "budget-homedepot.json",  # what B human labels buy (issue 29)
    "budget-active": "budget-homedepot-active.json",  # active against random choice, B = 2,000
    "budget-mnr": "budget-homedepot-mnr.json",  # the same, mnr-only competing with staged
    "budget-curve": "budget-homedepot-curve.json",  # B = 1,000 and 2,000, dissent then human
}
# the bench module, where it is not the name's first word
MODULES = {
    "mining-store": "mining_store",
    "proof-k10": "proof",
    "sample-seeds": "sample_seeds",
    "sample-seeds-negatives": "sample_seeds",
    "curriculum-humans": "curriculum_humans",
    "curriculum-humans-k10": "curriculum_humans",
    "budget-active": "budget",
    "budget-mnr": "budget",
    "budget-curve": "budget",
}


def _f(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def _ci(value: Any, interval: Any) -> str:
    if value is None:
        return "–"
    if not interval:
        return _f(value)
    return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def _flips(figures: dict[str, Any]) -> str:
    """The flip rate, with its Wilson interval and attack count where the results have them."""
    rate, interval = figures.get("flip_rate"), figures.get("flip_interval")
    if rate is None or not interval:
        return _f(rate, True)
    return f"{rate:.1%} [{interval[0]:.1%}, {interval[1]:.1%}] of {figures['flip_attacks']:,}"


def annotation_table(data: dict[str, Any]) -> list[str]:
    """Per tier and for the cascade: test QWK and exact agreement with 95% intervals, and the
    sanity figures."""
    lines = [
        "| test split | pairs | QWK [95% CI] | exact | raw QWK | random → relevant "
        "| injection flips | s / 1k pairs | route |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in data["tiers"].items():
        lines.append(
            f"| {name} | {t['test_pairs']:,} | {_ci(t['qwk'], t['qwk_interval'])} "
            f"| {_f(t['exact'], True)} | {_f(t['raw_qwk'])} | {_f(t['random_relevant'], True)} "
            f"| {_flips(t)} | {t['seconds_per_1k_pairs'] or 0:,.1f} "
            f"| {'bypassed' if t['bypassed'] else 'active'} |"
        )
    c = data["cascade"]
    lines.append(
        f"| **cascade** ({' → '.join(c['route'])}) | {c['test_pairs']:,} "
        f"| **{_ci(c['qwk'], c['qwk_interval'])}** | {_f(c['exact'], True)} | | "
        f"{_f(c['random_relevant'], True)} | {_flips(c)} | | "
        f"compute {_f(c['cost_share'], True)} of the top tier |"
    )
    return lines


def proof_table(data: dict[str, Any]) -> list[str]:
    """Per model: the full-catalog metrics, NDCG@10 per segment and the paired tests (against
    the first model, the base unless told otherwise, and against each model the evaluation was
    asked to test against)."""
    segments = list(data["segments"])
    head = ["model", "NDCG@10", "Recall@100", "grade-0 in top 10", "NDCG@10 judged only"]
    head += [f"NDCG@10 {s} ({data['segments'][s]})" for s in segments]
    first = next(iter(data["models"]))
    against = data.get("p_values_against", {})
    references = [
        r for r in dict.fromkeys(r for versus in against.values() for r in versus) if r != first
    ]
    head += [f"p (NDCG@10 vs {first})"] + [f"p (NDCG@10 vs {r})" for r in references]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, overall in data["models"].items():
        cells = [name] + [_f(overall.get(m), m == "grade0_top10") for m in METRICS]
        cells += [_f(data["by_segment"][name].get(s, {}).get("ndcg@10")) for s in segments]
        for p in [data["p_values"][name].get("ndcg@10")] + [
            against.get(name, {}).get(r, {}).get("ndcg@10") for r in references
        ]:
            cells.append("–" if p is None else f"{p:.2g}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def mining_table(data: dict[str, Any]) -> list[str]:
    """Wall time per step against ``mine_hard_negatives``, run by run and as a median; per
    channel, what it finds; the catalog channel's ``title_search`` modes."""
    ours, theirs = data["ours"], data["theirs"]
    runs = data.get("runs", [])
    lines = [f"| step{' (last cold run)' if runs else ''} | wall time |", "|---|---|"]
    for name, step in ours["steps"].items():
        lines.append(f"| {name} | " + " / ".join(f"{k} {v:.1f} s" for k, v in step.items()) + " |")
    for i, run in enumerate(runs, 1):
        lines.append(
            f"| run {i}: ours / theirs | {run['ours_seconds']:.1f} s / "
            f"{run['theirs_seconds']:.1f} s = {run['ratio']:.2f} |"
        )
    median = f"median of {len(runs)} runs, " if runs else ""
    spread = ""
    if "ratio_range" in data:
        low, high = data["ratio_range"]
        spread = f", range {low:.2f}–{high:.2f}"
    lines += [
        f"| **ours** ({median}{data['queries']:,} queries, top-{data['top_k']}, peak "
        f"{ours['peak_mib']:,} MiB) | **{ours['seconds']:.1f} s** |",
        f"| sentence-transformers `mine_hard_negatives` ({theirs['positive_pairs']:,} positive "
        f"pairs, top-100, peak {theirs['peak_mib']:,} MiB) | {theirs['seconds']:.1f} s |",
        f"| **ours / theirs** | **{data['ratio']:.2f}**{spread} "
        f"({data['ratio_without_writes']:.2f} without our store writes) |",
    ]
    if "warm" in data:
        lines.append(f"| ours, warm (embedding cache filled) | {data['warm']['seconds']:.1f} s |")
    lines += [
        "",
        "| channel | Recall@100 (grade ≥ 2) | of its relevant finds, found by no other channel |",
        "|---|---|---|",
    ]
    for name, c in data["channels"].items():
        lines.append(
            f"| {name} | {_f(c['recall@100'], True)} | {_f(c['found_by_no_other'], True)} |"
        )
    lines += [
        "",
        "| catalog `title_search` | Jaccard@100 with BM25 | Recall@100 | queries answered "
        "| search |",
        "|---|---|---|---|---|",
    ]
    for mode, m in data["catalog_modes"].items():
        lines.append(
            f"| {mode} | {_f(m['jaccard@100_bm25'], True)} | {_f(m['recall@100'], True)} "
            f"| {_f(m['queries_answered'], True)} | {m['search_seconds']:.1f} s |"
        )
    return lines


def mining_store_table(data: dict[str, Any]) -> list[str]:
    """Mining's store step (negatives, sets, writes) per database, before and after a change
    (the ``before`` key: the same benchmark run by the older code on the same lists)."""
    lines = [
        "| database | code | negatives | sets and writes | candidates written |",
        "|---|---|---|---|---|",
    ]
    for label, run in (("before", data.get("before")), ("after", data)):
        for db in ("sqlite", "postgresql"):
            if run and db in run:
                r = run[db]
                lines.append(
                    f"| {db} | {label} | {r['steps']['negatives']['tfidf+random']:.1f} s "
                    f"| {r['steps']['store']['write']:.1f} s | {r['candidates']:,} |"
                )
    return lines


def sample_seeds_table(data: dict[str, Any]) -> list[str]:
    lines = [
        "| min_dev_pairs | consistency_weight | seed | dev pairs (folded in) | epoch kept "
        "| test QWK | test exact | random relevant | gate (25%) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["runs"]:
        lines.append(
            f"| {r['min_dev_pairs']} | {r['consistency_weight']:g} | {r['seed']} "
            f"| {r['dev_pairs']} ({r['dev_folded_in']}) | {r['epoch_kept']} of {r['epochs_run']} "
            f"| {_f(r['test_qwk'])} | {_f(r['test_exact'], True)} "
            f"| {_f(r['random_relevant'], True)} | {'passed' if r['gate_passed'] else 'failed'} |"
        )
    return lines


def curriculum_humans_table(data: dict[str, Any]) -> list[str]:
    """Per level, then every mined easy positive by its worst channel rank: candidates, the
    share a human judged, and the share judged relevant."""
    lines = [
        "| level | candidates | judged by a human | of those, human relevant |",
        "|---|---|---|---|",
    ]
    for r in [*data["levels"], *data.get("easy_positives_by_rank", [])]:
        lines.append(
            f"| {r['level']} | {r['candidates']:,} | {_f(r['judged_share'], True)} "
            f"({r['judged']:,}) | {_f(r['human_relevant_share'], True)} |"
        )
    return lines


def budget_table(data: dict[str, Any]) -> list[str]:
    """The label-budget curve's rows (:func:`bench.budget_page.curve_rows`)."""
    from bench.budget_page import COLUMNS, curve_rows

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return lines + ["| " + " | ".join(row) + " |" for row in curve_rows(data)]


TABLES = {
    "budget": budget_table,
    "budget-active": budget_table,
    "budget-mnr": budget_table,
    "budget-curve": budget_table,
    "proof": proof_table,
    "proof-human-plus": proof_table,
    "proof-k10": proof_table,
    "mining": mining_table,
    "mining-store": mining_store_table,
    "sample-seeds": sample_seeds_table,
    "sample-seeds-negatives": sample_seeds_table,
    "curriculum-humans": curriculum_humans_table,
    "curriculum-humans-k10": curriculum_humans_table,
}


def main(argv: list[str]) -> int:
    which = argv or list(FILES)
    for name in which:
        file = FILES[name]
        path = RESULTS / file
        if not path.exists():
            module = MODULES.get(name, name.split("-")[0])
            print(f"{path} not found: run python -m bench.{module} first")
            continue
        data = json.loads(path.read_text())
        table = TABLES.get(name, annotation_table)(data)
        print(f"<!-- {file}: {data['command']} -->")
        print("\n".join(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
