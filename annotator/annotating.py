"""Annotating a mining run: the one route of ``dissent annotate`` and the ``annotate`` flow.

:func:`annotate` starts an ``annotate`` run — it resolves the mining run, builds the tiers,
loads their calibrations and records the run with its lineage (mining run, cascade,
calibration run) — then grades the run's candidates batch by batch and returns one
:class:`AnnotationReport`. Three hooks say how, so that the command line and the Prefect flow
share the route:

- ``plan`` splits the run's queries into batches (default :func:`whole_run`: one batch);
- ``wrap_backend`` wraps every tier's backend as :func:`annotator.tiers.open_tiers` builds it
  (the flow bounds calls with a guard);
- ``run_batches`` grades the batches (default: one after another, here, with the tiers built
  here; the flow fans them out as tasks, each grading with :func:`annotate_queries`).

Batches of one run may overlap other runs on the same queries: each query is graded under a
lock per cascade, and whoever comes second finds the labels and calls no model.

Example:
    >>> a = AnnotationReport(1, "c1", None, batches=1, pairs=3, decided_by={"t1": 3})
    >>> b = AnnotationReport(1, "c1", None, batches=1, pairs=2, decided_by={"t1": 1, "t2": 1})
    >>> merged = a.merge(b)
    >>> merged.batches, merged.pairs, merged.decided_by
    (2, 5, {'t1': 4, 't2': 1})
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import reduce
from typing import Any, Protocol

from sqlalchemy import Engine, select

from annotator.cascade import CascadeReport, Tier, cascade_id, run_cascade
from annotator.config import AnnotatorSettings
from annotator.pairs import as_pairs, candidate_rows, with_product_fields
from annotator.sampling import sample_candidates
from annotator.tiers import BackendWrapper, load_cascade, open_tiers
from core.errors import DissentError
from core.hashing import seeded_int
from prompts import load_prompt
from store.ledger import Flow, recorded_run, resolve_run
from store.locks import work_lock
from store.schema import CANDIDATE_SETS, Candidate

__all__ = [
    "AnnotationJob",
    "AnnotationReport",
    "BatchPlanner",
    "BatchRunner",
    "QueryBatch",
    "annotate",
    "annotate_queries",
    "annotation_batches",
    "whole_run",
]

log = logging.getLogger(__name__)

QueryBatch = list[int] | None
"""The queries of one batch of a run; None: every query of the run."""


class BatchPlanner(Protocol):
    """Splits a mining run's queries (of ``sets`` only, when given) into batches."""

    def __call__(
        self, engine: Engine, mining_run: int, sets: Sequence[str] | None
    ) -> list[QueryBatch]: ...


@dataclass(frozen=True)
class AnnotationJob:
    """What every batch of one ``annotate`` run shares (plain data: a batch may run in another
    process). ``limit`` keeps a batch's first ``limit`` pairs."""

    run_id: int
    mining_run: int
    sets: tuple[str, ...] | None = None
    limit: int | None = None


@dataclass
class AnnotationReport:
    """What an annotate run, or one batch of it, did; batch reports add up with :meth:`merge`.

    ``cascade_id`` and ``calibration_run`` are the cascade the run started with;
    ``cascade_ids`` lists every cascade a batch graded with (more than one when the cascade was
    recalibrated during the run). ``seconds`` is the batches' grading time, added up.
    """

    mining_run: int
    cascade_id: str
    calibration_run: int | None
    batches: int = 0
    pairs: int = 0
    already_labelled: int = 0
    decided_by: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    retried: int = 0  # pairs whose failed label from an earlier run was retried
    model_calls: dict[str, int] = field(default_factory=dict)
    cache_hits: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cascade_ids: list[str] = field(default_factory=list)

    @classmethod
    def of_batch(cls, mining_run: int, report: CascadeReport) -> AnnotationReport:
        """One batch's report, from what the cascade did."""
        return cls(
            mining_run,
            report.cascade_id,
            report.calibration_run,
            batches=1,
            pairs=report.pairs,
            already_labelled=report.already_labelled,
            decided_by=dict(report.decided_by),
            failed=report.failed,
            retried=report.retried,
            model_calls=dict(report.model_calls),
            cache_hits=dict(report.cache_hits),
            seconds=report.seconds,
            cascade_ids=[report.cascade_id],
        )

    def merge(self, other: AnnotationReport) -> AnnotationReport:
        """This report and ``other`` added up (the run's cascade is this one's)."""

        return AnnotationReport(
            self.mining_run,
            self.cascade_id,
            self.calibration_run,
            batches=self.batches + other.batches,
            pairs=self.pairs + other.pairs,
            already_labelled=self.already_labelled + other.already_labelled,
            decided_by=_add(self.decided_by, other.decided_by),
            failed=self.failed + other.failed,
            retried=self.retried + other.retried,
            model_calls=_add(self.model_calls, other.model_calls),
            cache_hits=_add(self.cache_hits, other.cache_hits),
            seconds=self.seconds + other.seconds,
            cascade_ids=sorted({*self.cascade_ids, *other.cascade_ids}),
        )

    def summary(self) -> dict[str, Any]:
        """The report as JSON (the run's counts, the flow's result)."""
        return asdict(self)

    def lines(self) -> list[str]:
        """The report as printable lines."""
        lines = [
            f"cascade {self.cascade_id}: {self.pairs:,} pairs "
            f"({self.already_labelled:,} already labelled) in {self.seconds:.1f} s",
            "  decided by: " + ", ".join(f"{k} {v:,}" for k, v in self.decided_by.items()),
            "  model calls: " + ", ".join(f"{k} {v:,}" for k, v in self.model_calls.items()),
            "  cache hits: " + ", ".join(f"{k} {v:,}" for k, v in self.cache_hits.items()),
            f"  failed at every tier (no label): {self.failed:,}",
            f"  failed labels of earlier runs retried: {self.retried:,}",
        ]
        if len(self.cascade_ids) > 1:
            lines.append("  recalibrated during the run: cascades " + ", ".join(self.cascade_ids))
        return lines


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Counts per tier added up, in order of first appearance."""
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


class BatchRunner(Protocol):
    """Grades ``batches`` of ``job`` (each with :func:`annotate_queries`); one report each."""

    def __call__(
        self, job: AnnotationJob, batches: Sequence[QueryBatch]
    ) -> list[AnnotationReport]: ...


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
    in a seeded order, so that ``max_queries`` takes queries spread over the run.

    Args:
        engine: the store.
        mining_run: the mining run.
        sets: only queries with candidates in these disagreement sets.
        queries_per_batch: queries in each batch.
        max_queries: at most this many queries in all.
        seed: the order's seed (``annotation.sample.seed``).
    """
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


def whole_run(engine: Engine, mining_run: int, sets: Sequence[str] | None) -> list[QueryBatch]:
    """The default plan: the whole run as one batch."""
    return [None]


def _checked(sets: Sequence[str] | None, limit: int | None) -> tuple[str, ...] | None:
    unknown = sorted(set(sets or ()) - set(CANDIDATE_SETS))
    if unknown:
        raise DissentError(
            f"unknown disagreement set {', '.join(map(repr, unknown))}; the sets are "
            + ", ".join(CANDIDATE_SETS)
        )
    if limit is not None and limit < 1:
        raise DissentError(f"limit must be a positive number of pairs, got {limit}")
    return tuple(sets) if sets else None


def annotate(
    engine: Engine,
    config: AnnotatorSettings,
    *,
    mining_run: int | None = None,
    sets: Sequence[str] | None = None,
    limit: int | None = None,
    plan: BatchPlanner = whole_run,
    wrap_backend: BackendWrapper | None = None,
    run_batches: BatchRunner | None = None,
) -> AnnotationReport:
    """Grade the candidates of a mining run (default: the latest) as one ``annotate`` run.

    Builds the tiers, loads their calibrations, records the run (with the mining run, the
    cascade and the calibrate run it used), grades the batches ``plan`` makes and returns
    their reports added up (also the run's counts). The tiers are closed afterwards.

    Args:
        engine: the store.
        config: the pipeline config (tiers, batch size, sampling).
        mining_run: the mining run whose candidates to grade.
        sets: only these disagreement sets.
        limit: only the first ``limit`` pairs of each batch (by query, product; with the
            default plan, of the run).
        plan: splits the run's queries into batches (default: one batch).
        wrap_backend: wraps each tier's backend as it is built.
        run_batches: grades the batches (default: one after another in this process, with
            the tiers built here).

    Raises:
        DissentError: an unknown set, a limit under 1, no such mining run, or a tier without a
            calibration for its model and the current prompt (run ``dissent calibrate``
            first); all refused before the run is recorded.
    """
    chosen_sets = _checked(sets, limit)
    prompt = load_prompt()
    mining = resolve_run(engine, Flow.MINE, mining_run).id
    batches = plan(engine, mining, chosen_sets)
    params = {
        "mining_run": mining,
        "sets": list(chosen_sets) if chosen_sets else None,
        "limit": limit,
        "batches": len(batches),
        "sample": config.annotation.sample.model_dump(mode="json"),
    }
    with open_tiers(config, wrap_backend) as specs:
        tiers = load_cascade(engine, specs)
        cid = cascade_id(tiers, prompt)
        with recorded_run(
            engine,
            Flow.ANNOTATE,
            params,
            {"prompt": prompt.version},
            mining_run_id=mining,
            cascade_id=cid,
            calibration_run_id=tiers[0].calibration_run,
        ) as run:
            job = AnnotationJob(run.id, mining, chosen_sets, limit)

            def here(job: AnnotationJob, batches: Sequence[QueryBatch]) -> list[AnnotationReport]:
                return [annotate_queries(engine, config, tiers, job, batch) for batch in batches]

            reports = (run_batches or here)(job, batches)
            zero = {t.name: 0 for t in tiers}
            start = AnnotationReport(
                mining,
                cid,
                tiers[0].calibration_run,
                decided_by=dict(zero),
                model_calls=dict(zero),
                cache_hits=dict(zero),
                cascade_ids=[cid],
            )
            report = reduce(AnnotationReport.merge, reports, start)
            if len(report.cascade_ids) > 1:
                log.warning("the cascade was recalibrated during this run: %s", report.cascade_ids)
            run.counts = report.summary()
    return report


def annotate_queries(
    engine: Engine,
    config: AnnotatorSettings,
    tiers: Sequence[Tier],
    job: AnnotationJob,
    query_ids: QueryBatch = None,
) -> AnnotationReport:
    """Grade one batch of ``job``: its mining run's candidates of ``query_ids`` (None: all).

    Judgments and labels are recorded under ``job.run_id``. Concurrent callers on the same
    queries do not duplicate work: each query is graded under a
    :func:`store.locks.work_lock` per cascade, and whoever comes second finds its labels and
    calls no model.

    Args:
        engine: the store.
        config: the pipeline config (batch size, sampling).
        tiers: the calibrated cascade (:func:`load_cascade`).
        job: the run this batch belongs to.
        query_ids: the batch's queries (None: every query of the run).
    """
    prompt = load_prompt()
    candidates = candidate_rows(engine, job.mining_run, job.sets, query_ids)
    sampled = sample_candidates(candidates, config.annotation.sample)[: job.limit]
    chosen = as_pairs(engine, sampled)
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
            run_id=job.run_id,
            product_fields=lambda todo: with_product_fields(engine, todo),
        )
    return AnnotationReport.of_batch(job.mining_run, report)
