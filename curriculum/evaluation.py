"""``dissent evaluate``: retrieval quality of each model on the held-out evaluation queries.

For the queries of the *evaluation* split (:mod:`store.splits`: never mined, annotated,
calibrated on or trained on), every model encodes the **whole catalog** and retrieves its
top ``train.eval_top_k`` (exact inner-product search over normalised embeddings), and the
runs are scored against the human labels with ranx:

- ``ndcg@10``: ranx's NDCG with the 0–3 grades as relevance; a product no human judged counts
  as grade 0, so this is a lower bound on the true figure;
- ``recall@100``: the share of each query's human-relevant products (grade >= 2) retrieved;
- ``grade0_top10``: the share of the top 10 that humans judged grade 0 (known-bad results);
- ``ndcg@10_judged`` (secondary): each model reranks only the query's judged products. On Home
  Depot these lists are short and mostly relevant (a random order scores about 0.87), so it
  cannot carry a claim.

Queries fall into segments by how many products humans judged for them (the proxy for
frequency we have): ``head`` (the third with the most), ``torso``, ``tail``. Every model is
compared with the first (the base model) by a two-sided paired t-test over queries, and, when
asked (``against``), with other models too: the claim that the curriculum adds to the human
labels is a test against the human-label model, not against the base.
:func:`write_evaluation` writes the JSON and an HTML page with the table and a bar chart.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from core.errors import DissentError
from core.models import cpu_has_bf16
from core.progress import track
from curriculum.config import TrainSettings
from store.catalog import load_products, product_text
from store.schema import HumanLabel, Query
from store.splits import evaluation_queries

__all__ = ["Evaluation", "ModelScores", "evaluate_models", "write_evaluation"]

log = logging.getLogger(__name__)

METRICS = ("ndcg@10", "recall@100", "grade0_top10", "ndcg@10_judged")
SEGMENTS = ("head", "torso", "tail")


@dataclass
class ModelScores:
    """One model's figures: overall, per segment, its paired test against the base, and against
    each model named in ``evaluate_models(against=...)`` that came before it."""

    name: str
    path: str
    overall: dict[str, float]
    segments: dict[str, dict[str, float]]
    p_values: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    p_values_against: dict[str, dict[str, float | None]] = field(default_factory=dict)


@dataclass
class Evaluation:
    queries: int
    products: int
    segments: dict[str, int]
    models: list[ModelScores]
    seconds: float = 0.0


@dataclass(frozen=True)
class _Judged:
    """The evaluation queries and their human grades."""

    texts: dict[int, str]
    grades: dict[int, dict[int, int]]  # query -> product -> grade
    segment: dict[int, str]


def _judged(engine: Engine, config: TrainSettings) -> _Judged:
    held = evaluation_queries(engine, config.splits)
    if not held:
        raise DissentError(
            "no evaluation queries: the store has no human labels in the evaluation split "
            "(splits.fractions[3])"
        )
    stmt = select(HumanLabel.query_id, HumanLabel.product_id, HumanLabel.grade).where(
        HumanLabel.query_id.in_(held)
    )
    grades: dict[int, dict[int, int]] = {}
    with engine.connect() as conn:
        for qid, pid, grade in conn.execute(stmt):
            grades.setdefault(qid, {})[pid] = int(grade)
        texts = dict(conn.execute(select(Query.id, Query.text).where(Query.id.in_(held))).all())
    counts = {q: len(g) for q, g in grades.items()}
    low, high = np.quantile(list(counts.values()), [1 / 3, 2 / 3])
    segment = {
        q: "head" if n > high else "tail" if n <= low else "torso" for q, n in counts.items()
    }
    return _Judged(texts, grades, segment)


def _encode(model: Any, texts: Sequence[str], bf16: bool, label: str) -> np.ndarray:
    import torch

    out = []
    device = "cuda" if str(model.device).startswith("cuda") else "cpu"
    for start in track(range(0, len(texts), 256), label, total=-(-len(texts) // 256)):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            vectors = model.encode(
                list(texts[start : start + 256]),
                batch_size=128,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        out.append(np.asarray(vectors, dtype=np.float32))
    return np.vstack(out)


def _runs(
    model: Any, judged: _Judged, ids: np.ndarray, catalog: list[str], k: int, bf16: bool
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The full-catalog run (top k) and the judged-only rerank, as ranx dictionaries."""
    import faiss

    docs = _encode(model, catalog, bf16, "encoding the catalog")
    queries = list(judged.texts)
    vectors = _encode(model, [judged.texts[q] for q in queries], bf16, "encoding queries")
    index = faiss.IndexFlatIP(docs.shape[1])
    index.add(docs)
    scores, rows = index.search(vectors, k)
    position = {int(pid): i for i, pid in enumerate(ids)}
    full, judged_run = {}, {}
    for i, q in enumerate(queries):
        full[str(q)] = {str(int(ids[r])): float(s) for r, s in zip(rows[i], scores[i], strict=True)}
        own = [p for p in judged.grades.get(q, {}) if p in position]
        judged_run[str(q)] = {str(p): float(docs[position[p]] @ vectors[i]) for p in own}
    return full, judged_run


def _per_query(
    full: Mapping[str, Mapping[str, float]],
    judged_run: Mapping[str, Mapping[str, float]],
    judged: _Judged,
) -> dict[str, dict[str, float]]:
    """Per metric, per query (ranx for the NDCGs and recall)."""
    from ranx import Qrels, Run, evaluate

    graded = {str(q): {str(p): g for p, g in ps.items()} for q, ps in judged.grades.items()}
    relevant = {
        str(q): {str(p): 1 for p, g in ps.items() if g >= 2} for q, ps in judged.grades.items()
    }
    relevant = {q: ps for q, ps in relevant.items() if ps}
    out: dict[str, dict[str, float]] = {}
    for metric, qrels_dict, run_dict in (
        ("ndcg@10", graded, full),
        ("recall@100", relevant, {q: full[q] for q in relevant}),
        ("ndcg@10_judged", graded, judged_run),
    ):
        qrels, run = Qrels(qrels_dict), Run(dict(run_dict))
        evaluate(qrels, run, metric.split("_")[0], return_mean=False, make_comparable=True)
        out[metric] = {q: float(v) for q, v in run.scores[metric.split("_")[0]].items()}
    out["grade0_top10"] = {}
    for q, results in full.items():
        top = sorted(results, key=results.__getitem__, reverse=True)[:10]
        known = judged.grades.get(int(q), {})
        out["grade0_top10"][q] = sum(known.get(int(p)) == 0 for p in top) / max(1, len(top))
    return out


def _summarise(
    per_query: dict[str, dict[str, float]], judged: _Judged
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    overall = {m: float(np.mean(list(v.values()))) for m, v in per_query.items()}
    segments = {
        s: {
            m: float(np.mean([x for q, x in v.items() if judged.segment[int(q)] == s] or [0.0]))
            for m, v in per_query.items()
        }
        for s in SEGMENTS
    }
    return overall, segments


def _p_values(
    base: dict[str, dict[str, float]], other: dict[str, dict[str, float]]
) -> dict[str, float | None]:
    from scipy.stats import ttest_rel

    out: dict[str, float | None] = {}
    for metric, values in other.items():
        shared = sorted(set(values) & set(base[metric]))
        a = [base[metric][q] for q in shared]
        b = [values[q] for q in shared]
        if len(shared) < 2 or np.allclose(a, b):
            out[metric] = None
            continue
        out[metric] = float(ttest_rel(b, a).pvalue)
    return out


def evaluate_models(
    engine: Engine,
    config: TrainSettings,
    models: Mapping[str, str],
    *,
    against: Sequence[str] = (),
) -> Evaluation:
    """Score each model (name -> path; the first is the baseline) on the evaluation queries;
    each model after one named in ``against`` is also tested against it
    (``ModelScores.p_values_against``).

    Raises:
        DissentError: the store has no evaluation queries, or ``against`` names a model that is
            not among ``models``.
    """
    from sentence_transformers import SentenceTransformer

    unknown = [name for name in against if name not in models]
    if unknown:
        raise DissentError(
            f"cannot test against {', '.join(unknown)}: not among the evaluated models "
            f"({', '.join(models)})"
        )
    started = time.perf_counter()
    judged = _judged(engine, config)
    products = load_products(engine)
    ids = np.array([p.id for p in products], dtype=np.int64)
    catalog = [product_text(p, description=config.curriculum.use_description) for p in products]
    bf16 = config.train.precision == "bfloat16" or (
        config.train.precision == "auto" and cpu_has_bf16()
    )
    scores: list[ModelScores] = []
    base: dict[str, dict[str, float]] | None = None
    references: dict[str, dict[str, dict[str, float]]] = {}
    for name, path in models.items():
        t0 = time.perf_counter()
        model = SentenceTransformer(path, device="cpu", local_files_only=True)
        full, judged_run = _runs(model, judged, ids, catalog, config.train.eval_top_k, bf16)
        per_query = _per_query(full, judged_run, judged)
        overall, segments = _summarise(per_query, judged)
        p_values = _p_values(base, per_query) if base is not None else {}
        base = base or per_query
        versus = {ref: _p_values(values, per_query) for ref, values in references.items()}
        if name in against:
            references[name] = per_query
        scores.append(
            ModelScores(name, path, overall, segments, p_values, time.perf_counter() - t0, versus)
        )
        log.info("%s: %s", name, overall)
    counts = {s: sum(v == s for v in judged.segment.values()) for s in SEGMENTS}
    return Evaluation(
        len(judged.texts), len(products), counts, scores, time.perf_counter() - started
    )


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
    titles = ("model", *METRICS, "p (ndcg@10)", *(f"p vs {r} (ndcg@10)" for r in references))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in titles)
    rows = []
    for m in evaluation.models:
        cells = [html.escape(m.name)] + [f"{m.overall[k]:.4f}" for k in METRICS]
        for p in [m.p_values.get("ndcg@10")] + [
            m.p_values_against.get(r, {}).get("ndcg@10") for r in references
        ]:
            cells.append("–" if p is None else f"{p:.3g}")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Dissent retrieval "
        "evaluation</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:"
        "collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style></head>"
        f"<body><h1>Retrieval on {evaluation.queries:,} held-out queries over "
        f"{evaluation.products:,} products</h1><p>{html.escape(command)}</p><p>NDCG@10 counts "
        "unjudged products as grade 0 (a lower bound). p: paired t-test against the first row "
        "(and against each model named after vs)."
        f"</p><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        f"<img alt='bar chart' src='{_bar_chart(evaluation)}'></body></html>\n"
    )


def write_evaluation(evaluation: Evaluation, json_path: Path, command: str) -> dict[str, Path]:
    """Write the figures as JSON (``models`` -> name -> metric, ``queries``, ``command``) and an
    HTML page beside it."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "command": command,
        "queries": evaluation.queries,
        "products": evaluation.products,
        "segments": evaluation.segments,
        "models": {m.name: m.overall for m in evaluation.models},
        "by_segment": {m.name: m.segments for m in evaluation.models},
        "p_values": {m.name: m.p_values for m in evaluation.models},
        "p_values_against": {
            m.name: m.p_values_against for m in evaluation.models if m.p_values_against
        },
        "paths": {m.name: m.path for m in evaluation.models},
        "seconds": {m.name: m.seconds for m in evaluation.models},
        "detail": [asdict(m) for m in evaluation.models],
    }
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    page = json_path.with_suffix(".html")
    page.write_text(_html(evaluation, command))
    return {"json": json_path, "html": page}
