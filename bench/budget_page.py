"""The label-budget curve as an HTML page: NDCG@10 against B per arm, judged@10 beside it.

:func:`write_page` draws, from ``bench.budget``'s results, NDCG@10 on the evaluation queries
against the number of human pairs (one line per arm and strategy, its 95% bootstrap interval
shaded; the base model, ``human@all`` and the label-free ``consensus@0`` as horizontal
references) and, in a second panel,
judged@10 (the share of each model's top 10 a human judged: what the NDCG can credit), with a
table of every figure under it. :func:`curve_rows` gives the table's rows, also printed in the
README by ``python -m bench.tables budget``.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

__all__ = ["ARMS", "COLUMNS", "curve_rows", "write_page"]

ARMS = ("human", "dissent", "human+dissent")
REFERENCES = {"base": "grey", "human@all": "black", "consensus@0": "#c44e52"}
"""The models drawn as horizontal lines (``consensus@0``: no label at all, ``--consensus``)."""
_COLOURS = {"human": "#4c72b0", "dissent": "#dd8452", "human+dissent": "#55a868"}
COLUMNS = (
    "model",
    "pairs",
    "NDCG@10 [95% CI]",
    "judged@10",
    "NDCG@10 condensed",
    "Recall@100",
    "grade 0 in judged top 10",
    "p vs human@B",
    "chosen on validation",
)


def _points(data: dict[str, Any], kind: str, strategy: str) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for name, arm in data.get("arms", {}).items():
        if name.startswith(f"{strategy}@"):
            budget = int(name.split("@")[1])
            scores = data["scores"].get(f"{kind}@{budget} {strategy}")
            if scores:
                out.append((arm["drawn"]["pairs"], scores))
    return sorted(out, key=lambda p: p[0])


def _figure(data: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, metric, title in (
        (axes[0], "ndcg@10", "NDCG@10 (unjudged = 0)"),
        (axes[1], "judged@10", "judged@10"),
    ):
        for kind in ARMS:
            for strategy, style in (("random", "-"), ("active", "--")):
                points = _points(data, kind, strategy)
                if not points:
                    continue
                xs = [p for p, _ in points]
                ys = [s["overall"][metric] for _, s in points]
                bands = [
                    s["intervals"].get(metric, (y, y)) for (_, s), y in zip(points, ys, strict=True)
                ]
                lows, highs = [b[0] for b in bands], [b[1] for b in bands]
                ax.errorbar(
                    xs,
                    ys,
                    yerr=[
                        [y - lo for y, lo in zip(ys, lows, strict=True)],
                        [hi - y for y, hi in zip(ys, highs, strict=True)],
                    ],
                    fmt=style + "o",
                    capsize=3,
                    color=_COLOURS[kind],
                    label=f"{kind} ({strategy})",
                )
                ax.fill_between(xs, lows, highs, color=_COLOURS[kind], alpha=0.15)
        for ref, colour in REFERENCES.items():
            if ref in data.get("scores", {}):
                ax.axhline(data["scores"][ref]["overall"][metric], color=colour, ls=":", label=ref)
        ax.set_xscale("log")
        ax.set_xlabel("human pairs (B)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _chosen(arm: dict[str, Any], kind: str) -> str:
    model = arm["models"][kind]
    if kind == "human":
        return str(model.get("chosen", ""))
    if kind == "dissent":
        stages = model.get("stages", [])
        return f"{model.get('recipe')}: {model.get('kept')} of {len(stages)} stages kept"
    return str(model.get("chosen", "human-hardneg"))


def curve_rows(data: dict[str, Any]) -> list[list[str]]:
    """One row per scored model: the references first, then each budget's arms."""
    scores = data.get("scores", {})
    rows = []
    pairs = {"base": "–", "human@all": f"{data.get('human_all_pairs') or 0:,}", "consensus@0": "0"}
    for ref in REFERENCES:
        if ref in scores:
            rows.append(_row(ref, pairs[ref], scores[ref], None, ""))
    for name, arm in data.get("arms", {}).items():
        strategy, budget = name.split("@")
        for kind in ARMS:
            key = f"{kind}@{budget} {strategy}"
            if key in scores:
                p = scores[key].get("p_vs_human", {}).get("ndcg@10")
                rows.append(
                    _row(key, f"{arm['drawn']['pairs']:,}", scores[key], p, _chosen(arm, kind))
                )
    return rows


def _row(name: str, pairs: str, s: dict[str, Any], p: float | None, chosen: str) -> list[str]:
    o, ci = s["overall"], s["intervals"].get("ndcg@10")
    interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    return [
        name,
        pairs,
        f"{o['ndcg@10']:.3f}{interval}",
        f"{o['judged@10']:.1%}",
        f"{o['ndcg@10_condensed']:.3f}",
        f"{o['recall@100']:.3f}",
        f"{o['grade0_judged_top10']:.1%}" if "grade0_judged_top10" in o else "–",
        "–" if p is None else f"{p:.2g}",
        chosen,
    ]


def write_page(data: dict[str, Any], path: Path) -> None:
    """Write the curve and the table as one self-contained HTML page."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in COLUMNS)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for row in curve_rows(data)
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Label budget</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}</style>
</head><body><h1>What B human labels buy</h1>
<p>{html.escape(data.get("command", ""))} &mdash; {data.get("cores")} cores,
{data.get("evaluation", {}).get("queries", 0):,} evaluation queries over the whole catalog.
Shaded: 95% bootstrap intervals over queries.</p>
<img src="data:image/png;base64,{_figure(data)}" alt="NDCG@10 and judged@10 against B">
<table><tr>{head}</tr>{body}</table></body></html>"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
