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

from annotator.outcome import CalibrationOutcome
from annotator.rounds import label_line, round_lines

__all__ = ["outcome_lines", "write_report"]

GRADE_NAMES = ["0 Irrelevant", "1 Complement", "2 Substitute", "3 Exact"]


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}" if isinstance(value, float) else str(value)


def _interval(value: float | None, interval: tuple[float, float] | None, pct: bool) -> str:
    if value is None:
        return "–"
    if interval is None:
        return _fmt(value, pct)
    low, high = interval
    return f"{_fmt(value, pct)} [{_fmt(low, pct)}, {_fmt(high, pct)}]"


def _rows(outcome: CalibrationOutcome) -> list[list[str]]:
    rows = []
    for tier in outcome.tiers:
        m = tier.calibrated
        rows.append(
            [
                tier.name + (" (bypassed)" if tier.bypassed else ""),
                tier.model_id,
                f"{tier.pairs['test']:,}",
                _interval(m.qwk, tier.qwk_interval, False),
                _interval(m.exact, tier.exact_interval, True),
                _fmt(m.within_one, True),
                _fmt(tier.raw.qwk),
                _fmt(tier.cv_score),
                _fmt(tier.cv_score_human),
                _fmt(outcome.cascade.decided_share.get(tier.name), True),
                _fmt(tier.random_relevant, True),
                _interval(tier.flip_rate, tier.flip_interval, True),
                f"{tier.seconds_per_1k:,.1f}",
            ]
        )
    c = outcome.cascade
    rows.append(
        [
            "**cascade**",
            " → ".join(c.route),
            f"{c.test.n:,}",
            _interval(c.test.qwk, c.qwk_interval, False),
            _interval(c.test.exact, c.exact_interval, True),
            _fmt(c.test.within_one, True),
            "–",
            _fmt(c.cv_score),
            _fmt(c.cv_score_human),
            "100.0%",
            _fmt(c.random_relevant, True),
            _interval(c.flip_rate, c.flip_interval, True),
            _fmt(c.per_1k_pairs_seconds),
        ]
    )
    return rows


HEADER = [
    "tier",
    "model / route",
    "test pairs",
    "QWK [95% CI]",
    "exact [95% CI]",
    "within one",
    "raw QWK (argmax)",
    "CV score alone",
    "CV on human pairs",
    "decided",
    "random graded relevant",
    "injection flip rate [95% CI]",
    "s / 1k pairs",
]


def outcome_lines(outcome: CalibrationOutcome) -> list[str]:
    """The headline figures as printable lines (the CLI's summary of a calibration)."""
    c = outcome.cascade
    lines = [
        f"{t.name}: test QWK {_interval(t.calibrated.qwk, t.qwk_interval, False)}, exact "
        f"{_interval(t.calibrated.exact, t.exact_interval, True)} on {t.pairs['test']:,} pairs"
        + (f"; bypassed: {t.bypassed}" if t.bypassed else "")
        for t in outcome.tiers
    ]
    lines.append(
        f"cascade {' -> '.join(c.route)}: test QWK {_interval(c.test.qwk, c.qwk_interval, False)}, "
        f"exact {_interval(c.test.exact, c.exact_interval, True)} on {c.test.n:,} pairs, compute "
        f"{c.cost_share_of_top_tier:.1%} of the top tier, random products graded relevant "
        f"{_fmt(c.random_relevant, True)}, injection flip rate {_fmt(c.flip_rate, True)}"
    )
    counted = label_line(outcome)
    if counted:  # a run that counted its labels compares with the previous one
        lines += [counted, *round_lines(outcome)]
    lines.append("agreement gate: " + ("passed" if outcome.gate.passed else "FAILED"))
    return lines


def _markdown(outcome: CalibrationOutcome) -> str:
    c, gate = outcome.cascade, outcome.gate
    lines = [
        "# Cascade calibration report",
        "",
        f"Prompt version `{outcome.prompt_version[:12]}`; objective **{outcome.objective}**. "
        "Human labels split by query: "
        + ", ".join(
            f"{k} {v['pairs']:,} pairs / {v['queries']:,} queries"
            for k, v in outcome.splits.items()
        )
        + ". Calibration maps, deciders and the route are fitted on the calibration split "
        "(the route by cross-validation inside it); every figure in the table is on the test "
        "split, except the CV scores (out of fold, calibration split; the first counts the "
        "random products calibration adds as Irrelevant, which are easy, the second only the "
        "pairs a person graded: compare that one with the test split).",
        "",
    ]
    counted = label_line(outcome)
    if counted:
        lines += [counted, "", " ".join(round_lines(outcome)), ""]
    lines += [
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(outcome)]
    thresholds = ", ".join(f"{t:.3f}" for t in c.thresholds) or "none (one tier)"
    lines += [
        "",
        f"Route: {' → '.join(c.route)} (thresholds {thresholds}); cross-validated "
        f"{outcome.objective} {_fmt(c.cv_score)} ({_fmt(c.cv_score_human)} on the pairs a "
        f"person graded). Compute: {c.cost_share_of_top_tier:.1%} of "
        f"sending every pair to the top tier (budget {outcome.budget:.0%}).",
        f"On the cascade's {c.test.n:,} test pairs, each tier alone: "
        + ", ".join(
            f"{k} QWK {_fmt(v)}" if v is not None else f"{k} – (graded a subsample)"
            for k, v in c.tiers_on_same_pairs.items()
        )
        + f"; the cascade {_fmt(c.test.qwk)}.",
        *(f"Bypassed: {t.name}: {t.bypassed}." for t in outcome.tiers if t.bypassed),
        f"Random catalog products for the test queries graded relevant (>= 2): "
        f"{_fmt(c.random_relevant, True)} of {c.random_pairs:,} (no label needed: nearly all are "
        "unrelated).",
        f"Prompt injection: cascade flip rate {_interval(c.flip_rate, c.flip_interval, True)} "
        f"(Wilson 95%) over {c.flip_attacks:,} attacks (the same test pairs with seller text that "
        "dictates a grade; product text is sanitized before any tier reads it; "
        "`annotation.injection_pairs` sets how many pairs are attacked).",
        f"Agreement gate: min QWK {_fmt(gate.min_qwk)}, cascade QWK {_fmt(gate.qwk)}; at most "
        f"{_fmt(gate.max_random_relevant, True)} random products relevant, cascade "
        f"{_fmt(gate.random_relevant, True)} → " + ("passed" if gate.passed else "**FAILED**"),
        "",
        "A tier whose answers barely depend on the pair (such as the packaged Gemma 3 270M) shows "
        "near-zero or undefined (–) kappa; calibration cannot make it useful, and the route "
        "then bypasses it.",
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
