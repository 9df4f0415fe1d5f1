"""The calibration report: JSON (everything), Markdown (the tables) and HTML (tables + plots).

Plots are drawn with matplotlib (Agg) and embedded in the HTML as PNG data URIs, so the
report is one self-contained file: reliability diagrams before and after calibration,
coverage-vs-agreement curves, confusion matrices and the share of pairs each tier decided.
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from annotator.evaluate import CalibrationOutcome

__all__ = ["write_report"]

GRADE_NAMES = ["0 Irrelevant", "1 Complement", "2 Substitute", "3 Exact"]


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}" if isinstance(value, float) else str(value)


def _rows(outcome: CalibrationOutcome) -> list[list[str]]:
    rows = []
    for tier in outcome.tiers:
        m = tier.calibrated
        rows.append(
            [
                tier.name,
                tier.model_id,
                _fmt(m.exact, True),
                _fmt(m.within_one, True),
                _fmt(m.qwk),
                _fmt(m.alpha),
                _fmt(m.coverage, True),
                _fmt(outcome.cascade.decided_share.get(tier.name), True),
                f"{tier.seconds_per_1k:,.1f}",
                f"{tier.tokens_in_per_1k:,.0f}",
            ]
        )
    c = outcome.cascade.test
    rows.append(
        [
            "**cascade**",
            f"thresholds {', '.join(f'{t:.3f}' for t in outcome.thresholds)}",
            _fmt(c.exact, True),
            _fmt(c.within_one, True),
            _fmt(c.qwk),
            _fmt(c.alpha),
            _fmt(c.coverage, True),
            "100.0%",
            _fmt(outcome.cascade.per_1k_pairs_seconds),
            "–",
        ]
    )
    return rows


HEADER = [
    "tier",
    "model",
    "exact",
    "within one",
    "QWK",
    "alpha (ordinal)",
    "coverage",
    "decided",
    "s / 1k pairs",
    "tokens in / 1k",
]


def _markdown(outcome: CalibrationOutcome) -> str:
    lines = [
        "# Cascade calibration report",
        "",
        f"Prompt version `{outcome.prompt_version[:12]}`. Human labels split by query: "
        + ", ".join(
            f"{k} {v['pairs']:,} pairs / {v['queries']:,} queries"
            for k, v in outcome.splits.items()
        )
        + ". Calibrated and thresholds chosen on the calibration split; every figure below is on the test split.",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(outcome)]
    share = outcome.cascade.cost_share_of_top_tier
    lines += [
        "",
        f"Cascade compute: {share:.1%} of sending every pair to the top tier (budget {outcome.budget:.0%}).",
        f"Agreement gate: min QWK {_fmt(outcome.gate.min_qwk)}, cascade QWK {_fmt(outcome.gate.qwk)} → "
        + ("passed" if outcome.gate.passed else "**FAILED**"),
        "",
        "Prompt injection (the same test pairs with seller text that dictates a grade): "
        + "; ".join(
            f"{name} flip rate {_fmt(v.flip_rate, True)} (to Exact {_fmt(v.flipped_to_exact, True)}, n={v.compared})"
            for name, v in outcome.injection.items()
        )
        if outcome.injection
        else "Prompt injection: not measured (annotation.injection_pairs = 0).",
        "",
        "A tier whose answers barely depend on the pair (such as the packaged Gemma 3 270M) shows "
        "near-zero or undefined (–) kappa; calibration cannot make it useful, and the thresholds "
        "then route pairs away from it.",
    ]
    return "\n".join(lines) + "\n"


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _plots(outcome: CalibrationOutcome) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(outcome.tiers)
    plots = {}
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.6), squeeze=False)
    for ax, tier in zip(axes[0], outcome.tiers, strict=True):
        ax.plot([0, 1], [0, 1], ls=":", c="grey", label="perfect")
        for when, data, colour in (
            ("before", tier.reliability_before, "tab:red"),
            ("after", tier.reliability_after, "tab:blue"),
        ):
            ax.plot(
                [b["confidence"] for b in data["bins"]],
                [b["accuracy"] for b in data["bins"]],
                "o-",
                c=colour,
                label=f"{when} (ECE {data['ece']:.3f})",
            )
        ax.set(title=tier.name, xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7)
    plots["reliability"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for tier in outcome.tiers:
        curve = tier.coverage_curve
        ax.plot(
            [c["coverage"] for c in curve],
            [c["agreement"] for c in curve],
            "o-",
            label=tier.name,
        )
    ax.set(xlabel="coverage (most confident first)", ylabel="exact agreement", ylim=(0, 1))
    ax.legend(fontsize=7)
    plots["coverage"] = _png(fig)

    matrices = [("cascade", outcome.cascade.confusion)] + [
        (t.name, t.confusion) for t in outcome.tiers
    ]
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.3 * len(matrices), 3.2), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], matrices, strict=True):
        ax.imshow(matrix, cmap="Blues")
        for i in range(4):
            for j in range(4):
                ax.text(j, i, str(matrix[i][j]), ha="center", va="center", fontsize=8)
        ax.set(title=name, xlabel="predicted", ylabel="human", xticks=range(4), yticks=range(4))
    plots["confusion"] = _png(fig)

    fig, ax = plt.subplots(figsize=(5, 3))
    shares = outcome.cascade.decided_share
    ax.bar(list(shares), list(shares.values()), color="tab:green")
    ax.set(ylabel="share of pairs decided", ylim=(0, 1))
    plots["decided"] = _png(fig)
    return plots


def _html(outcome: CalibrationOutcome, markdown: str) -> str:
    plots = _plots(outcome)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(cell.replace('**', ''))}</td>" for cell in row)
        + "</tr>"
        for row in _rows(outcome)
    )
    paragraphs = "".join(
        f"<p>{html.escape(line.replace('**', ''))}</p>"
        for line in markdown.splitlines()
        if line and not line.startswith(("|", "#"))
    )
    images = "".join(
        f'<figure><img id="plot-{name}" alt="{name}" src="{uri}"><figcaption>{name}</figcaption></figure>'
        for name, uri in plots.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dissent cascade calibration</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
figure{{display:inline-block;margin:1em}}</style></head>
<body><h1>Cascade calibration report</h1>{paragraphs}
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{images}</body></html>
"""


def write_report(outcome: CalibrationOutcome, directory: Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    markdown = _markdown(outcome)
    paths = {
        "json": directory / "report.json",
        "markdown": directory / "report.md",
        "html": directory / "report.html",
    }
    paths["json"].write_text(json.dumps(asdict(outcome), indent=2, default=float))
    paths["markdown"].write_text(markdown)
    paths["html"].write_text(_html(outcome, markdown))
    return paths
