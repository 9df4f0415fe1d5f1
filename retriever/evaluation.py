"""Scoring retrievers on the held-out evaluation queries: full-catalog retrieval, ranx metrics.

For the queries of the *evaluation* split (:mod:`store.splits`: never mined, annotated,
calibrated on or trained on), every model encodes the **whole catalog** and retrieves its
top :data:`TOP_K` (exact inner-product search over normalised embeddings), and the runs are
scored against the human labels with ranx:

- ``ndcg@10``: ranx's NDCG with the 0–3 grades as relevance; a product no human judged counts
  as grade 0, so this is a lower bound on the true figure;
- ``judged@10``: the share of the top 10 that a human judged at all. Read it beside every
  NDCG@10: an evaluation judged by the people who labelled the training pairs credits what
  they saw and nothing else, so a model that finds unjudged relevant products scores low;
- ``ndcg@10_condensed``: NDCG@10 of the model's top 100 with the unjudged products removed
  before the cut at 10 (Sakai's condensed list): what the model's ranking of judged products
  is worth, whatever it put between them;
- ``recall@100``: the share of each query's human-relevant products (grade >= 2) retrieved;
- ``grade0_top10``: the share of the top 10 that humans judged grade 0 (known-bad results),
  and ``grade0_judged_top10`` the same share of the *judged* products of the top 10 (queries
  with none judged left out);
- ``ndcg@10_judged`` (secondary): each model reranks only the query's judged products. Where
  judged lists are short and mostly relevant a random order already scores high, so this
  figure cannot carry a claim.

Every mean comes with a 95% bootstrap interval over queries (:data:`BOOTSTRAP` seeded
resamples).

Queries fall into segments by how many products humans judged for them (the proxy for
frequency there is): ``head`` (the third with the most), ``torso``, ``tail``. Every model is
compared with the first (the baseline) by a two-sided paired t-test over queries, and, when
asked (``against``), with other models too: whether the curriculum adds to the human labels
is a test against the human-label model, not against the base.

:func:`score_models` does the scoring; :func:`retriever.evaluating.evaluate_models` checks the
inputs, records the run and writes the report (:mod:`retriever.report`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Engine, select

from core.errors import DissentError
from core.precision import resolve_precision
from core.progress import track
from store.catalog import ProductDoc, load_products, product_text
from store.schema import HumanLabel, Query
from store.splits import evaluation_queries

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings

__all__ = [
    "METRICS",
    "SEGMENTS",
    "TOP_K",
    "Evaluation",
    "Judged",
    "ModelScores",
    "bootstrap_intervals",
    "judged_queries",
    "paired_p_values",
    "per_query_metrics",
    "query_scores",
    "score_models",
    "summarise",
]

log = logging.getLogger(__name__)

METRICS = (
    "ndcg@10",
    "judged@10",
    "ndcg@10_condensed",
    "recall@100",
    "grade0_top10",
    "grade0_judged_top10",
    "ndcg@10_judged",
)
BOOTSTRAP = 1000
SEGMENTS = ("head", "torso", "tail")
TOP_K = 100
"""Products retrieved per evaluation query (``recall@100`` reads them all)."""


@dataclass
class ModelScores:
    """One model's figures: overall, per segment, its paired test against the first model, and
    against each model named in ``against`` that came before it."""

    name: str
    path: str
    overall: dict[str, float]
    segments: dict[str, dict[str, float]]
    p_values: dict[str, float | None] = field(default_factory=dict)
    seconds: float = 0.0
    p_values_against: dict[str, dict[str, float | None]] = field(default_factory=dict)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class Evaluation:
    """Every model's scores, over ``queries`` evaluation queries and ``products`` products;
    ``run_id`` and ``files`` are set once the run is recorded and the report written."""

    queries: int
    products: int
    segments: dict[str, int]
    models: list[ModelScores]
    seconds: float = 0.0
    run_id: int | None = None
    files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Judged:
    """The evaluation queries: their texts, human grades and segments."""

    texts: dict[int, str]
    grades: dict[int, dict[int, int]]  # query -> product -> grade
    segment: dict[int, str]


def judged_queries(
    engine: Engine, config: RetrieverSettings, queries: Collection[int] | None = None
) -> Judged:
    """The evaluation split's human-labelled queries, with their grades and segments.

    ``queries`` names other queries instead (a benchmark's validation queries, never the
    evaluation split's: the caller chooses).

    Raises:
        DissentError: there are none.
    """
    held = evaluation_queries(engine, config.splits) if queries is None else set(queries)
    if not held:
        raise DissentError(
            "no evaluation queries: the store has no human labels in the evaluation split "
            "(splits.fractions[3]); ingest human labels first (`dissent ingest`)"
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
    return Judged(texts, grades, segment)


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
    model: Any, judged: Judged, ids: np.ndarray, catalog: list[str], k: int, bf16: bool
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


def per_query_metrics(
    full: Mapping[str, Mapping[str, float]],
    judged_run: Mapping[str, Mapping[str, float]],
    judged: Judged,
) -> dict[str, dict[str, float]]:
    """Per metric (:data:`METRICS`), per query id (as text), from a model's two runs.

    Args:
        full: query -> product -> score, the model's top-k over the whole catalog.
        judged_run: query -> product -> score over the query's judged products only.
        judged: the evaluation queries' grades.

    ranx computes the NDCGs and recall (a query with no relevant product is left out of
    recall); the shares of the top 10 are counted here (see the module docstring).
    """
    from ranx import Qrels, Run, evaluate

    graded = {str(q): {str(p): g for p, g in ps.items()} for q, ps in judged.grades.items()}
    relevant = {
        str(q): {str(p): 1 for p, g in ps.items() if g >= 2} for q, ps in judged.grades.items()
    }
    relevant = {q: ps for q, ps in relevant.items() if ps}
    condensed = {
        q: {p: s for p, s in results.items() if p in graded.get(q, {})}
        for q, results in full.items()
    }
    out: dict[str, dict[str, float]] = {}
    for metric, qrels_dict, run_dict in (
        ("ndcg@10", graded, full),
        ("ndcg@10_condensed", graded, condensed),
        ("recall@100", relevant, {q: full[q] for q in relevant}),
        ("ndcg@10_judged", graded, judged_run),
    ):
        name = metric.split("_")[0]
        qrels, run = Qrels(qrels_dict), Run(dict(run_dict))
        evaluate(qrels, run, name, return_mean=False, make_comparable=True)
        out[metric] = {q: float(v) for q, v in run.scores[name].items()}
    out.update(_top10_shares(full, judged))
    return {metric: out[metric] for metric in METRICS}


def _top10_shares(
    full: Mapping[str, Mapping[str, float]], judged: Judged
) -> dict[str, dict[str, float]]:
    """Per query: the share of the top 10 judged, judged grade 0, and grade 0 of the judged."""
    shares: dict[str, dict[str, float]] = {
        "judged@10": {},
        "grade0_top10": {},
        "grade0_judged_top10": {},
    }
    for q, results in full.items():
        top = sorted(results, key=results.__getitem__, reverse=True)[:10]
        known = judged.grades.get(int(q), {})
        seen = [known[int(p)] for p in top if int(p) in known]
        shares["judged@10"][q] = len(seen) / max(1, len(top))
        shares["grade0_top10"][q] = sum(g == 0 for g in seen) / max(1, len(top))
        if seen:
            shares["grade0_judged_top10"][q] = sum(g == 0 for g in seen) / len(seen)
    return shares


def bootstrap_intervals(
    per_query: Mapping[str, Mapping[str, float]], resamples: int = BOOTSTRAP, seed: int = 0
) -> dict[str, tuple[float, float]]:
    """Per metric, the 95% interval of the mean over queries from ``resamples`` seeded
    bootstrap resamples of the queries.

    Example:
        >>> lo, hi = bootstrap_intervals({"m": {str(i): float(i % 2) for i in range(400)}})["m"]
        >>> 0.42 < lo < 0.5 < hi < 0.58
        True
    """
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[float, float]] = {}
    for metric, values in per_query.items():
        data = np.fromiter(values.values(), dtype=np.float64)
        if len(data) < 2:
            continue
        means = data[rng.integers(0, len(data), (resamples, len(data)))].mean(axis=1)
        low, high = np.quantile(means, [0.025, 0.975])
        out[metric] = (float(low), float(high))
    return out


def summarise(
    per_query: Mapping[str, Mapping[str, float]], judged: Judged
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Overall and per-segment means of per-query figures (:func:`per_query_metrics`)."""
    overall = {m: float(np.mean(list(v.values()))) for m, v in per_query.items()}
    segments = {
        s: {
            m: float(np.mean([x for q, x in v.items() if judged.segment[int(q)] == s] or [0.0]))
            for m, v in per_query.items()
        }
        for s in SEGMENTS
    }
    return overall, segments


def paired_p_values(
    base: dict[str, dict[str, float]], other: dict[str, dict[str, float]]
) -> dict[str, float | None]:
    """Per metric, the two-sided paired t-test's p-value of ``other`` against ``base`` over the
    queries both scored; None where fewer than two queries are shared or nothing differs."""
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


def _load(path: str) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return SentenceTransformer(path, device=device, local_files_only=True)


def query_scores(
    config: RetrieverSettings,
    path: str,
    judged: Judged,
    products: Sequence[ProductDoc],
    *,
    top_k: int = TOP_K,
) -> dict[str, dict[str, float]]:
    """One model's per-query figures (:func:`per_query_metrics`) for ``judged``'s queries,
    retrieving from ``products`` (the whole catalog in an evaluation; a benchmark's validation
    may pass a sample of it holding every judged product)."""
    ids = np.array([p.id for p in products], dtype=np.int64)
    catalog = [product_text(p, description=config.curriculum.use_description) for p in products]
    model = _load(path)
    bf16 = resolve_precision(config.precision, str(model.device)) == "bfloat16"
    full, judged_run = _runs(model, judged, ids, catalog, top_k, bf16)
    return per_query_metrics(full, judged_run, judged)


def score_models(
    engine: Engine,
    config: RetrieverSettings,
    models: Mapping[str, str],
    judged: Judged,
    *,
    against: Sequence[str] = (),
    top_k: int = TOP_K,
) -> Evaluation:
    """Score each model (name -> folder; the first is the baseline) on the evaluation queries.

    Each model after one named in ``against`` is also tested against it
    (``ModelScores.p_values_against``).

    Args:
        engine: the store (evaluation queries, human labels, the catalog).
        config: the pipeline config (``splits``, ``curriculum.use_description``,
            ``precision``).
        models: name -> model folder, in report order.
        judged: the evaluation queries (:func:`judged_queries`).
        against: names of models the later ones are also tested against.
        top_k: products retrieved per query.

    Returns:
        Every model's scores, in the order given.
    """
    started = time.perf_counter()
    products = load_products(engine)
    scores: list[ModelScores] = []
    base: dict[str, dict[str, float]] | None = None
    references: dict[str, dict[str, dict[str, float]]] = {}
    for name, path in models.items():
        t0 = time.perf_counter()
        per_query = query_scores(config, path, judged, products, top_k=top_k)
        overall, segments = summarise(per_query, judged)
        p_values = paired_p_values(base, per_query) if base is not None else {}
        base = base or per_query
        versus = {ref: paired_p_values(values, per_query) for ref, values in references.items()}
        if name in against:
            references[name] = per_query
        seconds = time.perf_counter() - t0
        intervals = bootstrap_intervals(per_query)
        scores.append(
            ModelScores(name, path, overall, segments, p_values, seconds, versus, intervals)
        )
        log.info("%s: %s", name, overall)
    counts = {s: sum(v == s for v in judged.segment.values()) for s in SEGMENTS}
    return Evaluation(
        len(judged.texts), len(products), counts, scores, time.perf_counter() - started
    )
