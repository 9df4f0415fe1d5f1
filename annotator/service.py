"""The annotator's entry points: train tier 1, calibrate the cascade, annotate candidates.

These are what ``dissent annotate train-tier``, ``dissent calibrate`` and ``dissent annotate``
(and the Prefect flows) call; each records itself in the ``runs`` ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from annotator.backends.registry import build_backend, trained_model_dir
from annotator.calibration import Isotonic
from annotator.cascade import CascadeReport, Tier, TierSpec, cascade_id, run_cascade
from annotator.config import AnnotatorSettings, TierConfig
from annotator.decision import Decider
from annotator.evaluate import CalibrationOutcome, calibrate_cascade, require_splits
from annotator.fitting import cap_split
from annotator.pairs import (
    LabelledPair,
    as_pairs,
    candidate_rows,
    labelled_pairs,
    random_pairs,
    with_product_fields,
)
from annotator.report import write_report
from annotator.sampling import sample_candidates
from annotator.tier1 import TrainingResult
from core.errors import DissentError
from core.hashing import seeded_int
from prompts import load_prompt
from store.ledger import Flow, RunRecord, recorded_run, resolve_run, succeeded_ids
from store.locks import work_lock
from store.schema import CANDIDATE_SETS, Calibration, Candidate

__all__ = [
    "annotate",
    "annotate_queries",
    "annotation_batches",
    "calibrate",
    "load_cascade",
    "open_tiers",
    "train_tier",
    "train_tier1",
    "trainable_tier",
]

log = logging.getLogger(__name__)


@contextmanager
def open_tiers(config: AnnotatorSettings) -> Iterator[list[TierSpec]]:
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
                    tier.max_eval_pairs,
                )
            )
        yield specs
    finally:
        for spec in specs:
            spec.backend.close()


def trainable_tier(config: AnnotatorSettings, tier: str | int | None = None) -> TierConfig:
    """The ``cross_encoder`` tier that ``tier`` names: a 1-based position or a name; unset, the
    first cross-encoder tier.

    Raises:
        DissentError: no such tier, or it is not a ``cross_encoder`` tier.
    """
    tiers = config.annotation.tiers
    names = ", ".join(f"{i} {t.name!r} ({t.backend})" for i, t in enumerate(tiers, start=1))
    if tier is None:
        found = next((t for t in tiers if t.backend == "cross_encoder"), None)
        if found is None:
            raise DissentError(f"no cross_encoder tier to train; the tiers are {names}")
        return found
    position = int(tier) if isinstance(tier, int) or str(tier).isdigit() else None
    if position is not None:
        if not 1 <= position <= len(tiers):
            raise DissentError(f"there is no tier {position}; the tiers are {names}")
        chosen = tiers[position - 1]
    else:
        match = [t for t in tiers if t.name == tier]
        if not match:
            raise DissentError(f"there is no tier named {tier!r}; the tiers are {names}")
        chosen = match[0]
    if chosen.backend != "cross_encoder":
        raise DissentError(
            f"tier {chosen.name!r} is a {chosen.backend} tier: only cross_encoder tiers are "
            f"trained by Dissent (the tiers are {names})"
        )
    return chosen


def train_tier(
    engine: Engine,
    config: AnnotatorSettings,
    tier: str | int | None = None,
    *,
    epochs: int | None = None,
    limit: int | None = None,
) -> TrainingResult:
    """Fine-tune a ``cross_encoder`` tier on the tier-training split (:mod:`annotator.tier1`).

    ``tier`` is a 1-based position or a name (unset: the first cross-encoder tier). Settings
    come from the tier's ``training``, else ``annotation.tier1_training``; ``epochs``
    overrides their epochs and ``limit`` keeps the first ``limit`` tier-training pairs (then
    ``max_pairs`` caps them, whole queries in a seeded order). The
    model is saved to the tier's ``model`` folder (default ``<workdir>/models/tier1-cross-encoder``).
    Records a ``train-tier1`` run.

    Raises:
        DissentError: no such tier, or no tier-training pairs (refused before any run row).
    """
    from annotator.tier1 import NO_TRAINING_PAIRS, train_tier1_model, training_set

    chosen = trainable_tier(config, tier)
    output = trained_model_dir(chosen, config.workdir)
    settings = chosen.training or config.annotation.tier1_training
    if epochs is not None:
        settings = settings.model_copy(update={"epochs": epochs})
    ann = config.annotation
    train = [
        lp for lp in labelled_pairs(engine, config.splits, ann.label_source) if lp.split == "train"
    ][:limit]
    train = cap_split(train, settings.max_pairs, settings.seed)
    if not train:  # refused before any run row is written
        raise DissentError(NO_TRAINING_PAIRS)
    params = {
        "tier": chosen.name,
        "pairs": len(train),
        "training": settings.model_dump(mode="json"),
    }
    with recorded_run(engine, Flow.TRAIN_TIER1, {**params, "output": str(output)}) as run:
        data = training_set(engine, train, settings)
        result = train_tier1_model(data, output, settings, workdir=config.workdir)
        run.counts = asdict(result)
    return result


def train_tier1(
    engine: Engine,
    config: AnnotatorSettings,
    *,
    epochs: int | None = None,
    limit: int | None = None,
) -> TrainingResult:
    """:func:`train_tier` for the first cross-encoder tier."""
    return train_tier(engine, config, None, epochs=epochs, limit=limit)


def calibrate(
    engine: Engine,
    config: AnnotatorSettings,
    report_dir: Path | None = None,
    *,
    enforce_gate: bool = True,
) -> tuple[CalibrationOutcome, dict[str, Path]]:
    """Calibrate every tier, choose thresholds, evaluate on the test split, write the report.

    With ``enforce_gate`` off (benchmarks), a failed gate is only reported.

    Raises:
        DissentError: after writing the report, when the agreement gate fails: the cascade's
            QWK on the test split is below ``annotation.min_qwk``, or it grades more than
            ``annotation.max_random_relevant`` of random products relevant.
    """
    ann = config.annotation
    prompt = load_prompt()
    labelled = labelled_pairs(engine, config.splits, ann.label_source)
    require_splits(labelled)  # refusals come before the tiers load and the run row is written
    labelled += _unrelated(engine, labelled, ann.calibration_random_share, config.splits.seed)
    test_queries = sorted({lp.pair.query_id for lp in labelled if lp.split == "test"})
    randoms = random_pairs(engine, test_queries, ann.random_pairs, config.splits.seed)
    directory = report_dir or config.workdir / "reports" / "calibration"
    with (
        open_tiers(config) as tiers,  # a missing model is refused before the run row
        recorded_run(
            engine,
            Flow.CALIBRATE,
            {"budget": ann.cost_budget, "min_qwk": ann.min_qwk},
            {"prompt": prompt.version},
        ) as run,
    ):
        outcome = calibrate_cascade(
            engine,
            tiers,
            prompt,
            labelled,
            objective=ann.objective,
            budget=ann.cost_budget,
            folds=ann.cv_folds,
            min_qwk=ann.min_qwk,
            max_random_relevant=ann.max_random_relevant,
            max_pairs_per_split=ann.max_pairs_per_split,
            injection_pairs=ann.injection_pairs,
            random_pairs=randoms,
            seed=config.splits.seed,
            run_id=run.id,
        )
        paths = write_report(outcome, directory)
        run.counts = {
            "report": str(paths["html"]),
            "cascade_test": asdict(outcome.cascade.test),
            "gate": asdict(outcome.gate),
        }
        if enforce_gate and not outcome.gate.passed:
            gate = outcome.gate
            raise DissentError(
                f"agreement gate failed: cascade QWK {gate.qwk} on the test split (minimum "
                f"{gate.min_qwk}), random products graded relevant {gate.random_relevant} "
                f"(maximum {gate.max_random_relevant}); report: {paths['html']}"
            )
    return outcome, paths


def _unrelated(
    engine: Engine, labelled: Sequence[LabelledPair], share: float, seed: int
) -> list[LabelledPair]:
    """Random catalog products for the calibration queries, labelled Irrelevant.

    Human labels are mostly of plausible products; the candidates the cascade grades include
    random and token-similar negatives. Without unrelated products among them, the maps and
    cutpoints fitted on the calibration split learn that everything is somewhat relevant.
    """
    cal = [lp for lp in labelled if lp.split == "calibration"]
    queries = sorted({lp.pair.query_id for lp in cal})
    pairs = random_pairs(engine, queries, round(share * len(cal)), seed + 1)
    return [LabelledPair(pair, 0, "calibration") for pair in pairs]


def _latest_calibrations(
    engine: Engine, specs: Sequence[TierSpec], prompt_hash: str
) -> tuple[int | None, list[Calibration | None]]:
    """The calibrations of every tier from the latest *succeeded* calibrate run that has them.

    Thresholds are chosen for the tiers together, so all come from one run; a run that failed
    its agreement gate is never used.
    """
    with Session(engine) as session:
        found: list[Calibration | None] = [None] * len(specs)
        for run_id in succeeded_ids(engine, Flow.CALIBRATE):
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


def annotation_batches(
    engine: Engine,
    mining_run: int,
    *,
    sets: Sequence[str] | None = None,
    queries_per_batch: int = 50,
    max_queries: int | None = None,
    seed: int = 0,
) -> list[list[int]]:
    """The queries of a mining run's candidates in batches (the unit of annotation fan-out),
    in a seeded order, so that ``max_queries`` takes queries spread over the run."""
    stmt = select(Candidate.query_id).distinct().where(Candidate.run_id == mining_run)
    if sets is not None:
        stmt = stmt.where(Candidate.candidate_set.in_(list(sets)))
    with engine.connect() as conn:
        found = list(conn.execute(stmt).scalars())
    queries = sorted(found, key=lambda q: seeded_int(seed, "sample-order", q))
    if max_queries is not None:
        queries = queries[:max_queries]
    step = max(1, queries_per_batch)
    return [queries[i : i + step] for i in range(0, len(queries), step)]


def load_cascade(engine: Engine, specs: Sequence[TierSpec]) -> list[Tier]:
    """The cascade for ``specs``: the active tiers of the latest calibration for the prompt,
    each with its maps, decider and threshold (bypassed tiers are left out).

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
        _tier(position, spec, c, calibration_run)
        for position, (spec, c) in enumerate(zip(specs, calibrations, strict=True), start=1)
        if c is not None and not c.thresholds.get("bypassed")
    ]


def _tier(
    position: int, spec: TierSpec, calibration: Calibration, calibration_run: int | None
) -> Tier:
    """An active tier as its calibration row describes it."""
    accept = calibration.thresholds.get("accept")
    decider = calibration.thresholds.get("decider")
    return Tier(
        spec.name,
        spec.backend,
        Isotonic.from_json(calibration.isotonic) if calibration.isotonic else None,
        threshold=1.01 if accept is None else float(accept),  # the last tier: always decides
        max_attempts=spec.max_attempts,
        calibration_run=calibration_run,
        decider=Decider.from_json(decider) if decider else Decider("exact"),
        position=position,
    )


def annotate(
    engine: Engine,
    config: AnnotatorSettings,
    *,
    mining_run: int | None = None,
    sets: Sequence[str] | None = None,
    limit: int | None = None,
) -> CascadeReport:
    """Grade the candidates of a mining run (default: the latest) as one ``annotate`` run.

    Builds the tiers from the config, loads their calibrations, grades with
    :func:`annotate_queries` and closes the tiers. The run row records the mining run, the
    cascade and the calibrate run it used.

    Args:
        engine: the store.
        config: the pipeline config (tiers, batch size).
        mining_run: the mining run whose candidates to grade.
        sets: only these disagreement sets.
        limit: only the first ``limit`` pairs (by query, product).

    Raises:
        DissentError: no such mining run, or a tier without a calibration for its model and
            the current prompt (run ``dissent calibrate`` first).
    """
    unknown = sorted(set(sets or ()) - set(CANDIDATE_SETS))
    if unknown:
        raise DissentError(
            f"unknown disagreement set {', '.join(map(repr, unknown))}; the sets are "
            + ", ".join(CANDIDATE_SETS)
        )
    if limit is not None and limit < 1:
        raise DissentError(f"limit must be a positive number of pairs, got {limit}")
    prompt = load_prompt()
    mining = resolve_run(engine, Flow.MINE, mining_run).id
    params = {
        "mining_run": mining,
        "sets": list(sets) if sets else None,
        "limit": limit,
        "sample": config.annotation.sample.model_dump(mode="json"),
    }
    with open_tiers(config) as specs:
        tiers = load_cascade(engine, specs)
        with recorded_run(
            engine,
            Flow.ANNOTATE,
            params,
            {"prompt": prompt.version},
            mining_run_id=mining,
            cascade_id=cascade_id(tiers, prompt),
            calibration_run_id=tiers[0].calibration_run,
        ) as run:
            report = annotate_queries(engine, config, tiers, mining, run, sets=sets, limit=limit)
    return report


def annotate_queries(
    engine: Engine,
    config: AnnotatorSettings,
    tiers: Sequence[Tier],
    mining_run: int,
    run: RunRecord,
    *,
    sets: Sequence[str] | None = None,
    query_ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> CascadeReport:
    """Grade a mining run's candidates (of ``query_ids`` only, when given) under ``run``.

    The unit of work of :func:`annotate` and of the annotate flow's fan-out: judgments and
    labels are recorded under ``run`` (whose counts are set to this call's report). Concurrent
    callers on the same queries do not duplicate work: each query is graded under a
    :func:`store.locks.work_lock` per cascade, and whoever comes second finds its labels and
    calls no model.

    Args:
        engine: the store.
        config: the pipeline config (batch size).
        tiers: the calibrated cascade (:func:`load_cascade`).
        mining_run: the mining run whose candidates to grade.
        run: the ``annotate`` run this work belongs to.
        sets: only these disagreement sets.
        query_ids: only these queries' candidates (one batch of a fan-out).
        limit: only the first ``limit`` pairs (by query, product).
    """
    prompt = load_prompt()
    candidates = candidate_rows(engine, mining_run, sets, query_ids)
    chosen = as_pairs(engine, sample_candidates(candidates, config.annotation.sample)[:limit])
    # One lock per query and cascade, whatever the batching: two flows, two workers or a CLI
    # run that overlap on a query take turns on it, and the second finds its labels.
    cid = cascade_id(tiers, prompt)
    with work_lock(engine, [f"annotate:{cid}:{q}" for q in {p.query_id for p in chosen}]):
        report = run_cascade(
            engine,
            tiers,
            prompt,
            chosen,
            batch_size=config.annotation.batch_size,
            run_id=run.id,
            product_fields=lambda todo: with_product_fields(engine, todo),
        )
    run.counts = asdict(report)
    return report
