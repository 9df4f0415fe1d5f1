"""The annotator's entry points: train tier 1, calibrate the cascade, annotate candidates.

These are what ``dissent annotate train-tier1``, ``dissent calibrate`` and ``dissent annotate``
(and the Prefect flows) call; each records itself in the ``runs`` ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from annotator.backends.registry import build_backend, tier1_model_dir
from annotator.calibration import Isotonic
from annotator.cascade import CascadeReport, Tier, cascade_id, run_cascade
from annotator.evaluate import CalibrationOutcome, TierSpec, calibrate_cascade
from annotator.pairs import candidate_pairs, labelled_pairs
from annotator.report import write_report
from prompts import load_prompt
from store.config import PipelineConfig
from store.errors import DissentError
from store.ledger import latest_run, recorded_run
from store.locks import work_lock
from store.schema import Calibration, Run

__all__ = [
    "annotate",
    "annotation_batches",
    "calibrate",
    "load_cascade",
    "open_tiers",
    "resolve_mining_run",
    "train_tier1",
]

log = logging.getLogger(__name__)


@contextmanager
def open_tiers(config: PipelineConfig) -> Iterator[list[TierSpec]]:
    """Build every tier's backend from the config; close them all afterwards."""
    specs: list[TierSpec] = []
    try:
        for tier in config.annotation.tiers:
            specs.append(
                TierSpec(
                    tier.name,
                    build_backend(tier, config.workdir),
                    tier.cost_weight,
                    tier.max_retries + 1,
                )
            )
        yield specs
    finally:
        for spec in specs:
            spec.backend.close()


def train_tier1(
    engine: Engine, config: PipelineConfig, *, epochs: int | None = None, limit: int | None = None
) -> Path:
    """Fine-tune the cross-encoder tier on the tier-training split of the human labels.

    Settings come from ``annotation.tier1_training``; ``epochs`` overrides its epochs.
    """
    from annotator.backends.cross_encoder import train_cross_encoder

    ann = config.annotation
    tier = next((t for t in ann.tiers if t.backend == "cross_encoder"), None)
    output = (
        Path(tier.model) if tier is not None and tier.model else tier1_model_dir(config.workdir)
    )
    train = [
        lp
        for lp in labelled_pairs(engine, ann.split_fractions, ann.split_seed, ann.label_source)
        if lp.split == "train"
    ]
    if limit is not None:
        train = train[:limit]
    settings = ann.tier1_training.model_dump()
    if epochs is not None:
        settings["epochs"] = epochs
    with recorded_run(
        engine, "train-tier1", {"pairs": len(train), "training": settings, "output": str(output)}
    ) as run:
        train_cross_encoder(
            [(lp.pair.query, lp.pair.product, lp.grade) for lp in train], output, **settings
        )
        run["counts"] = {"pairs": len(train)}
    return output


def calibrate(
    engine: Engine, config: PipelineConfig, report_dir: Path | None = None
) -> tuple[CalibrationOutcome, dict[str, Path]]:
    """Calibrate every tier, choose thresholds, evaluate on the test split, write the report.

    Raises:
        DissentError: after writing the report, when the cascade's QWK on the test split is
            below ``annotation.min_qwk``.
    """
    ann = config.annotation
    prompt = load_prompt()
    labelled = labelled_pairs(engine, ann.split_fractions, ann.split_seed, ann.label_source)
    directory = report_dir or config.workdir / "reports" / "calibration"
    with (
        recorded_run(
            engine, "calibrate", {"budget": ann.cost_budget, "min_qwk": ann.min_qwk}
        ) as run,
        open_tiers(config) as tiers,
    ):
        outcome = calibrate_cascade(
            engine,
            tiers,
            prompt,
            labelled,
            budget=ann.cost_budget,
            min_qwk=ann.min_qwk,
            max_pairs_per_split=ann.max_pairs_per_split,
            injection_pairs=ann.injection_pairs,
            seed=ann.split_seed,
            run_id=run["run_id"],
        )
        paths = write_report(outcome, directory)
        run["counts"] = {
            "report": str(paths["html"]),
            "cascade_test": outcome.cascade["test"],
            "gate": outcome.gate,
        }
        if not outcome.gate["passed"]:
            raise DissentError(
                f"agreement gate failed: cascade QWK {outcome.gate['qwk']} on the test split is below "
                f"min_qwk {ann.min_qwk} (report: {paths['html']})"
            )
    return outcome, paths


def _latest_calibrations(
    engine: Engine, specs: Sequence[TierSpec], prompt_hash: str
) -> tuple[int | None, list[Calibration | None]]:
    """The calibrations of every tier from the latest *succeeded* calibrate run that has them.

    Thresholds are chosen for the tiers together, so all come from one run; a run that failed
    its agreement gate is never used.
    """
    with Session(engine) as session:
        runs = session.scalars(
            select(Run.id)
            .where(Run.flow == "calibrate", Run.status == "succeeded")
            .order_by(Run.id.desc())
        ).all()
        found: list[Calibration | None] = [None] * len(specs)
        for run_id in runs:
            rows = session.scalars(
                select(Calibration).where(
                    Calibration.run_id == run_id, Calibration.prompt_hash == prompt_hash
                )
            ).all()
            by_tier = {(r.tier, r.model_id): r for r in rows}
            tiers = [by_tier.get((i + 1, s.backend.model_id)) for i, s in enumerate(specs)]
            if all(t is not None for t in tiers):
                return run_id, tiers
            if not any(found):
                found = tiers
    return None, found


def _accept(calibration: Calibration | None) -> float:
    value = calibration.thresholds.get("accept") if calibration is not None else None
    return 1.01 if value is None else float(value)  # the last tier has none: it always decides


def resolve_mining_run(engine: Engine, mining_run: int | None = None) -> int:
    """``mining_run``, or the latest finished mining run.

    Raises:
        DissentError: there is no finished mining run.
    """
    if mining_run is not None:
        return mining_run
    found = latest_run(engine, "mine")
    if found is None:
        raise DissentError("no finished mining run in the store; run `dissent mine` first")
    return found.id


def annotation_batches(
    engine: Engine,
    mining_run: int,
    *,
    sets: Sequence[str] | None = None,
    queries_per_batch: int = 50,
    max_queries: int | None = None,
) -> list[list[int]]:
    """The queries of a mining run's candidates in batches (the unit of annotation fan-out)."""
    queries = sorted({pair.query_id for pair, _ in candidate_pairs(engine, mining_run, sets)})
    if max_queries is not None:
        queries = queries[:max_queries]
    step = max(1, queries_per_batch)
    return [queries[i : i + step] for i in range(0, len(queries), step)]


def load_cascade(engine: Engine, specs: Sequence[TierSpec]) -> list[Tier]:
    """The calibrated tiers for ``specs``: each with its latest calibration for the prompt.

    Raises:
        DissentError: a tier has no calibration for its model and the current prompt.
    """
    prompt = load_prompt()
    calibration_run, calibrations = _latest_calibrations(engine, specs, prompt.version)
    missing = [s.name for s, c in zip(specs, calibrations, strict=True) if c is None]
    if missing:
        raise DissentError(
            f"no calibration for tier(s) {', '.join(missing)} with the current models and prompt "
            "from a calibrate run that passed its agreement gate; run `dissent calibrate` first"
        )
    return [
        Tier(
            spec.name,
            spec.backend,
            Isotonic.from_json(c.isotonic) if c is not None and c.isotonic else None,
            threshold=_accept(c),
            max_attempts=spec.max_attempts,
            calibration_run=calibration_run,
        )
        for spec, c in zip(specs, calibrations, strict=True)
    ]


def annotate(
    engine: Engine,
    config: PipelineConfig,
    *,
    mining_run: int | None = None,
    sets: Sequence[str] | None = None,
    limit: int | None = None,
    query_ids: Sequence[int] | None = None,
    tiers: Sequence[Tier] | None = None,
    run_id: int | None = None,
) -> CascadeReport:
    """Grade the candidates of a mining run (default: the latest) with the calibrated cascade.

    Args:
        engine: the store.
        config: the pipeline config (tiers, batch size).
        mining_run: the mining run whose candidates to grade.
        sets: only these disagreement sets.
        limit: only the first ``limit`` pairs (by query, product).
        query_ids: only these queries' candidates (one batch of a fan-out).
        tiers: tiers already built and calibrated (:func:`load_cascade`); default: build them
            from the config and close them afterwards.
        run_id: record judgments and labels under this run (a flow's) instead of a new
            ``annotate`` run.

    Concurrent callers on the same batch do not duplicate work: the batch runs under a
    :func:`store.locks.work_lock`, and whoever comes second finds its labels and calls no model.

    Raises:
        DissentError: no mining run, or a tier without a calibration for its model and the
            current prompt (run ``dissent calibrate`` first).
    """
    prompt = load_prompt()
    mining_run = resolve_mining_run(engine, mining_run)
    pairs = [pair for pair, _ in candidate_pairs(engine, mining_run, sets, query_ids)]
    if limit is not None:
        pairs = pairs[:limit]
    params = {
        "mining_run": mining_run,
        "sets": list(sets) if sets else None,
        "limit": limit,
        "queries": len(query_ids) if query_ids is not None else None,
    }
    with ExitStack() as stack:
        if tiers is None:
            specs = stack.enter_context(open_tiers(config))
            tiers = load_cascade(engine, specs)
        if run_id is None:
            run = stack.enter_context(recorded_run(engine, "annotate", params))
        else:
            run = {"run_id": run_id, "counts": {}}
        # One lock per query and cascade, whatever the batching: two flows, two workers or a
        # CLI run that overlap on a query take turns on it, and the second finds its labels.
        cid = cascade_id(tiers, prompt)
        stack.enter_context(
            work_lock(engine, [f"annotate:{cid}:{q}" for q in {p.query_id for p in pairs}])
        )
        report = run_cascade(
            engine,
            tiers,
            prompt,
            pairs,
            batch_size=config.annotation.batch_size,
            run_id=run["run_id"],
        )
        run["counts"] = {
            "pairs": report.pairs,
            "decided_by": report.decided_by,
            "failed": report.failed,
            "cascade_id": report.cascade_id,
            "model_calls": report.model_calls,
            "calibration_run": report.calibration_run,
        }
    return report
