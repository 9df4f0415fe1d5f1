"""``dissent evaluate``: check every model and the report path, record an ``evaluate`` run,
score, write the report.

:func:`evaluate_models` is the entry point the CLI, the Prefect flow and the benchmarks call.
Before any model loads it checks every model folder (:func:`retriever.models.model_refs`),
the names given in ``against``, the report path (writable, not a folder) and that the store
has evaluation queries; then it records an ``evaluate`` run whose parameters name each model
(path, identity, and the train run that made it) and whose fingerprint hashes those
identities with the evaluation settings, scores the models
(:func:`retriever.evaluation.score_models`) and writes the JSON and HTML report
(:mod:`retriever.report`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from core.errors import DissentError
from core.hashing import content_hash
from retriever.evaluation import TOP_K, Evaluation, judged_queries, score_models
from retriever.models import default_models, model_refs
from retriever.paths import check_writable_file, evaluation_report
from retriever.report import write_evaluation
from store.ledger import Flow, recorded_run

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings

__all__ = ["evaluate_models"]


def _check_against(against: Sequence[str], names: Sequence[str]) -> None:
    unknown = [name for name in against if name not in names]
    if unknown:
        raise DissentError(
            f"cannot test against {', '.join(unknown)}: not among the evaluated models "
            f"({', '.join(names)})"
        )


def evaluate_models(
    engine: Engine,
    config: RetrieverSettings,
    models: Mapping[str, str | Path] | None = None,
    *,
    against: Sequence[str] = (),
    output: Path | None = None,
    command: str = "",
    top_k: int = TOP_K,
) -> Evaluation:
    """Score each model on the held-out evaluation queries and write the report.

    Args:
        engine: the store (evaluation queries, human labels, the catalog, the ledger).
        config: the pipeline config.
        models: name -> model folder, the first the baseline (default: the base model and
            every model ``dissent train`` finished, :func:`retriever.models.default_models`).
        against: names of models the later ones are also tested against.
        output: the JSON report (default ``workdir/reports/evaluation.json``); the HTML page
            goes beside it.
        command: the command line, recorded in the report.
        top_k: products retrieved per query.

    Returns:
        The scores, with the run's id and the report's files.

    Raises:
        DissentError: no model is named, a model folder is missing or holds no model,
            ``against`` names a model not evaluated, the report cannot be written there, or
            the store has no evaluation queries — each before any model is loaded or any run
            recorded.
    """
    refs = model_refs(models if models is not None else default_models(config))
    if not refs:
        raise DissentError("no models to evaluate: name at least one (NAME=PATH)")
    _check_against(against, [r.name for r in refs])
    target = check_writable_file(output or evaluation_report(config), "the evaluation report")
    judged = judged_queries(engine, config)
    parameters = {
        "models": {r.name: r.record() for r in refs},
        "against": list(against),
        "top_k": top_k,
        "output": str(target),
    }
    fingerprint = content_hash(
        {
            "models": [(r.name, r.identity) for r in refs],
            "top_k": top_k,
            "splits": config.splits.model_dump(mode="json"),
            "use_description": config.curriculum.use_description,
        }
    )
    with recorded_run(engine, Flow.EVALUATE, parameters, fingerprint=fingerprint) as run:
        evaluation = score_models(
            engine, config, {r.name: r.path for r in refs}, judged, against=against, top_k=top_k
        )
        evaluation.run_id = run.id
        files = write_evaluation(evaluation, target, command)
        evaluation.files = {kind: str(path) for kind, path in files.items()}
        run.counts = {
            "queries": evaluation.queries,
            "products": evaluation.products,
            "segments": evaluation.segments,
            "models": {m.name: m.overall for m in evaluation.models},
            "files": evaluation.files,
        }
    return evaluation
