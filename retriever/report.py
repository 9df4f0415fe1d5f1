"""The evaluation report: JSON for machines, an HTML page with a bar chart, lines to print.

:func:`write_evaluation` writes the JSON (``models`` -> name -> metric, per segment, p-values,
paths, the command) and an HTML page beside it; :func:`summary_lines` is what ``dissent
evaluate`` prints, p-values included. Both read an :class:`~retriever.evaluation.Evaluation`.

Example:
    >>> from retriever.evaluation import Evaluation, ModelScores
    >>> scores = {"ndcg@10": 0.3}
    >>> evaluation = Evaluation(12, 300, {"head": 4}, [
    ...     ModelScores("base", "/m/base", scores, {}),
    ...     ModelScores("human", "/m/human", {"ndcg@10": 0.4}, {}, {"ndcg@10": 0.0123}),
    ... ])
    >>> summary_lines(evaluation)
    ['base: ndcg@10 0.3000', 'human: ndcg@10 0.4000 (p 0.0123 vs base)', '12 evaluation queries']
"""

from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import asdict
from pathlib import Path

from retriever.evaluation import METRICS, Evaluation

__all__ = ["summary_lines", "write_evaluation"]


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _f(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _interval(bounds: tuple[float, float] | list[float] | None) -> str:
    return "–" if not bounds else f"[{bounds[0]:.3f}, {bounds[1]:.3f}]"


def summary_lines(evaluation: Evaluation) -> list[str]:
    """One line per model (figures, then NDCG@10 p-values against the first model and each
    model it was tested against), then the query count and the report's HTML page, if
    written."""
    first = evaluation.models[0].name if evaluation.models else ""
    lines = []
    for m in evaluation.models:
        figures = ", ".join(f"{k} {v:.4f}" for k, v in m.overall.items())
        tests = [(first, m.p_values.get("ndcg@10"))] + [
            (ref, v.get("ndcg@10")) for ref, v in m.p_values_against.items()
        ]
        shown = [f"p {_p(p)} vs {ref}" for ref, p in tests if p is not None]
        lines.append(f"{m.name}: {figures}" + (f" ({', '.join(shown)})" if shown else ""))
    page = evaluation.files.get("html")
    lines.append(
        f"{evaluation.queries:,} evaluation queries" + (f"; report: {page}" if page else "")
    )
    return lines


def _bar_chart(evaluation: Evaluation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [m.name for m in evaluation.models]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, metric in zip(axes, ("ndcg@10", "recall@100", "grade0_top10"), strict=True):
        ax.bar(names, [m.overall[metric] for m in evaluation.models], color="tab:blue")
        ax.set_title(metric)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _html(evaluation: Evaluation, command: str) -> str:
    references = list(dict.fromkeys(r for m in evaluation.models for r in m.p_values_against))
    titles = (
        "model",
        *METRICS,
        "ndcg@10 95% CI",
        "p (ndcg@10)",
        *(f"p vs {r} (ndcg@10)" for r in references),
    )
    head = "".join(f"<th>{html.escape(h)}</th>" for h in titles)
    rows = []
    for m in evaluation.models:
        cells = [html.escape(m.name)] + [_f(m.overall.get(k)) for k in METRICS]
        cells.append(_interval(m.intervals.get("ndcg@10")))
        for p in [m.p_values.get("ndcg@10")] + [
            m.p_values_against.get(r, {}).get("ndcg@10") for r in references
        ]:
            cells.append(_p(p))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dissent retrieval "
        "evaluation</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head>"
        f"<body><h1>Retrieval on {evaluation.queries:,} held-out queries over "
        f"{evaluation.products:,} products</h1><p>{html.escape(command)}</p><p>NDCG@10 counts "
        "unjudged products as grade 0 (a lower bound): read it beside judged@10, the share of "
        "the top 10 a human judged. Condensed NDCG@10 drops unjudged products before the cut. "
        "p: paired t-test against the first row (and against each model named after vs); "
        "intervals: 95% bootstrap over queries."
        f"</p><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<img alt='bar chart' src='{_bar_chart(evaluation)}'></body></html>\n"
    )


def write_evaluation(evaluation: Evaluation, json_path: Path, command: str) -> dict[str, Path]:
    """Write the figures as JSON and an HTML page beside it.

    Args:
        evaluation: the scores.
        json_path: the JSON file (``models`` -> name -> metric, per segment, p-values, paths,
            ``queries``, ``command``, ``run``); the page is the same name with ``.html``.
        command: the command that made the figures, recorded in both.

    Returns:
        Both paths, as ``json`` and ``html``.
    """
    json_path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "command": command,
        "queries": evaluation.queries,
        "products": evaluation.products,
        "segments": evaluation.segments,
        "models": {m.name: m.overall for m in evaluation.models},
        "by_segment": {m.name: m.segments for m in evaluation.models},
        "intervals": {m.name: m.intervals for m in evaluation.models},
        "p_values": {m.name: m.p_values for m in evaluation.models},
        "p_values_against": {
            m.name: m.p_values_against for m in evaluation.models if m.p_values_against
        },
        "paths": {m.name: m.path for m in evaluation.models},
        "run": evaluation.run_id,
        "seconds": {m.name: m.seconds for m in evaluation.models},
        "detail": [asdict(m) for m in evaluation.models],
    }
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    page = json_path.with_suffix(".html")
    page.write_text(_html(evaluation, command))
    return {"json": json_path, "html": page}
