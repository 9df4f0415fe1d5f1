"""``dissent curriculum build``: levels, stages, splits and augmentation, written to the store.

Reads one mining run's candidates with the cascade's labels (for the products' current
content), places them at levels (:mod:`curriculum.levels`), builds the stages and the graded
list (:mod:`curriculum.stages`), splits by query (:mod:`curriculum.splits`), adds typo-noisy
copies of train queries (:mod:`curriculum.augment`) and writes everything to
``curriculum_examples`` under one ``runs`` row (flow ``curriculum``), in one transaction.

A build is keyed by its inputs (mining run, cascade, labels, curriculum settings): building
again with the same inputs reuses the finished run and writes nothing; a build that was killed
leaves no examples behind (the transaction never committed) and the next one starts clean.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, delete, func, select

from core.errors import DissentError
from core.hashing import content_hash
from curriculum.augment import choose_typos
from curriculum.config import CurriculumConfig, CurriculumSettings
from curriculum.levels import GradedCandidate, assign_levels
from curriculum.splits import split_examples
from curriculum.stages import STAGES, Example, build_stages, graded_list
from store.bulk import bulk_insert
from store.ledger import Flow, annotation_of, recorded_run, resolve_run, runs_with_fingerprint
from store.schema import Candidate, CurriculumExample, Label, Product, Query
from store.splits import evaluation_queries

__all__ = [
    "CURRICULUM_VERSION",
    "CurriculumReport",
    "build_curriculum",
    "graded_candidates",
    "resolve_inputs",
]

log = logging.getLogger(__name__)

CURRICULUM_VERSION = 1
_COLUMNS = (
    "run_id",
    "level",
    "stage",
    "split",
    "query_id",
    "query_text",
    "augmented",
    "positive_id",
    "negative_id",
    "label",
)


@dataclass
class CurriculumReport:
    """What a build did: its run, the counts per level, stage and split, and the time."""

    run_id: int
    mining_run: int
    cascade_id: str
    reused: bool = False
    levels: dict[str, Any] = field(default_factory=dict)
    stages: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, Any] = field(default_factory=dict)
    per_stage_split: dict[str, dict[str, int]] = field(default_factory=dict)
    augmented: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        per_level = self.levels.get("per_level", {})
        out = [
            f"curriculum run {self.run_id}{' (reused)' if self.reused else ''}: mining run "
            f"{self.mining_run}, cascade {self.cascade_id[:12]}",
            "levels: " + ", ".join(f"{k}={v}" for k, v in per_level.items()),
            f"promoted negatives: {sum(self.levels.get('promoted', {}).values())} "
            f"{self.levels.get('promoted', {})}; demoted positives: "
            f"{sum(self.levels.get('demoted', {}).values())}; failed: "
            f"{self.levels.get('failed', 0)}; unlabelled: {self.levels.get('unlabelled', 0)}",
        ]
        for stage, by_split in self.per_stage_split.items():
            out.append(f"{stage}: " + ", ".join(f"{k}={v}" for k, v in by_split.items()))
        out.append(
            f"augmented: {self.augmented.get('queries', 0)} train queries, "
            f"{self.augmented.get('examples', 0)} examples; {self.seconds:.1f} s"
        )
        return out


def resolve_inputs(
    engine: Engine, mining_run: int | None = None, cascade: str | None = None
) -> tuple[int, str]:
    """The mining run (default: the latest finished) and the cascade that labelled it.

    The cascade defaults to the one of the latest finished ``annotate`` run over that
    mining run.

    Raises:
        DissentError: no such mining run, or no annotate run over it.
    """
    mining = resolve_run(engine, Flow.MINE, mining_run).id
    if cascade is None:
        annotation = annotation_of(engine, mining)
        if annotation is None or annotation.cascade_id is None:
            raise DissentError(
                f"mining run {mining} has not been annotated; run `dissent annotate` first"
            )
        cascade = annotation.cascade_id
    return mining, cascade


def _refuse_evaluation_queries(engine: Engine, config: CurriculumSettings, mining_run: int) -> None:
    """Evaluation queries must never reach a training set (:mod:`store.splits`).

    Raises:
        DissentError: the mining run holds candidates of evaluation queries.
    """
    held = evaluation_queries(engine, config.splits)
    stmt = select(Candidate.query_id).where(Candidate.run_id == mining_run).distinct()
    with engine.connect() as conn:
        found = sorted(held & set(conn.execute(stmt).scalars()))
    if found:
        raise DissentError(
            f"mining run {mining_run} holds {len(found)} evaluation queries (ids "
            f"{', '.join(map(str, found[:5]))}{', ...' if len(found) > 5 else ''}), which no "
            "training data may contain; mine again with mining.include_evaluation_queries: false"
        )


def graded_candidates(
    engine: Engine, mining_run: int, cascade: str
) -> tuple[list[GradedCandidate], int]:
    """The candidates that carry a label of ``cascade`` (graded or failed), and how many of
    the run's candidates carry none (not annotated yet, or annotated before their product
    changed). Only labelled candidates are read: a run is often annotated in part."""
    label_join = and_(
        Label.query_id == Candidate.query_id,
        Label.product_id == Candidate.product_id,
        Label.product_hash == Product.content_hash,
        Label.cascade_id == cascade,
    )
    stmt = (
        select(
            Candidate.query_id,
            Candidate.product_id,
            Candidate.candidate_set,
            Candidate.ranks,
            Label.grade,
            Label.status,
        )
        .join(Product, Product.id == Candidate.product_id)
        .join(Label, label_join)
        .where(Candidate.run_id == mining_run)
        .order_by(Candidate.query_id, Candidate.product_id)
    )
    total = select(func.count()).select_from(Candidate).where(Candidate.run_id == mining_run)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        candidates = int(conn.execute(total).scalar_one())
    labelled = [
        GradedCandidate(
            r.query_id,
            r.product_id,
            tuple((r.ranks or {}).get("sets") or [r.candidate_set]),
            None if r.grade is None else int(r.grade),
            r.status,
        )
        for r in rows
    ]
    return labelled, candidates - len(labelled)


def _fingerprint(
    cfg: CurriculumConfig, mining_run: int, cascade: str, graded: Sequence[GradedCandidate]
) -> str:
    return content_hash(
        {
            "version": CURRICULUM_VERSION,
            "curriculum": cfg.model_dump(mode="json", exclude={"use_description"}),
            "mining_run": mining_run,
            "cascade": cascade,
            "labels": content_hash([(c.query_id, c.product_id, c.grade) for c in graded]),
        }
    )


def _query_texts(engine: Engine) -> dict[int, tuple[str, str]]:
    """Every query's (external id, text)."""
    with engine.connect() as conn:
        return {
            r.id: (r.external_id, r.text)
            for r in conn.execute(select(Query.id, Query.external_id, Query.text))
        }


def _product_keys(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {r.id: r.external_id for r in conn.execute(select(Product.id, Product.external_id))}


@dataclass
class _Plan:
    """A build before it is written: examples with their split, typo copies and counts."""

    split: list[tuple[Example, str]]
    queries: dict[int, tuple[str, str]]
    typos: dict[int, Any]
    levels: dict[str, Any]
    stages: dict[str, Any]
    splits: dict[str, Any]


def _plan(
    engine: Engine, cfg: CurriculumConfig, graded: Sequence[GradedCandidate], unlabelled: int
) -> _Plan:
    """Levels, stages, the graded list, the split by query and the typo copies (no writes)."""
    placed, level_counts = assign_levels(graded, cfg.relevance_cutoff)
    level_counts.unlabelled += unlabelled
    queries = _query_texts(engine)
    query_keys = {qid: key for qid, (key, _) in queries.items()}
    product_keys = _product_keys(engine)
    examples, stage_counts = build_stages(
        placed,
        negatives_per_positive=cfg.negatives_per_positive,
        seed=cfg.seed,
        query_keys=query_keys,
        product_keys=product_keys,
    )
    examples += graded_list(graded, placed)
    split, split_counts = split_examples(
        examples,
        query_keys,
        validation_fraction=cfg.validation_fraction,
        seed=cfg.seed,
        product_keys=product_keys if cfg.split_by_product else None,
    )
    train_queries = {e.query_id: queries[e.query_id][1] for e, side in split if side == "train"}
    typos = choose_typos(train_queries, cfg.typo_rate, cfg.seed)
    return _Plan(
        split,
        queries,
        typos,
        level_counts.as_dict(),
        stage_counts.as_dict(),
        split_counts.as_dict(),
    )


def _rows(run_id: int, plan: _Plan) -> list[tuple[Any, ...]]:
    """The ``curriculum_examples`` rows: each example, and a typo copy of train queries'."""
    rows: list[tuple[Any, ...]] = []
    for example, side in plan.split:
        texts = [(plan.queries[example.query_id][1], False)]
        typo = plan.typos.get(example.query_id) if side == "train" else None
        if typo is not None:
            texts.append((typo.text, True))
        for text, augmented in texts:
            rows.append(
                (
                    run_id,
                    example.level,
                    example.stage,
                    side,
                    example.query_id,
                    text,
                    augmented,
                    example.positive_id,
                    example.negative_id,
                    example.label,
                )
            )
    return rows


def _write(engine: Engine, rows: Sequence[tuple[Any, ...]], stale: Sequence[int]) -> None:
    """Write the examples in one transaction, first removing those of ``stale`` runs."""
    with engine.begin() as conn:
        if stale:  # killed or failed builds of the same inputs: start clean
            conn.execute(delete(CurriculumExample).where(CurriculumExample.run_id.in_(stale)))
        bulk_insert(conn, "curriculum_examples", _COLUMNS, rows)


def _per_stage_split(rows: Sequence[tuple[Any, ...]]) -> dict[str, dict[str, int]]:
    counts = Counter((row[2], row[3]) for row in rows)  # (stage, split)
    return {
        STAGES.get(stage, "graded"): {side: counts[stage, side] for side in ("train", "validation")}
        for stage in (1, 2, 3, 0)
    }


def build_curriculum(
    engine: Engine,
    config: CurriculumSettings,
    *,
    mining_run: int | None = None,
    cascade: str | None = None,
) -> CurriculumReport:
    """Build the curriculum of a mining run graded by a cascade (see the module docstring).

    Raises:
        DissentError: no mining run or annotation to build from, or nothing graded at all.
    """
    started = time.perf_counter()
    cfg = config.curriculum
    mining_run = resolve_run(engine, Flow.MINE, mining_run).id
    _refuse_evaluation_queries(engine, config, mining_run)
    mining_run, cascade = resolve_inputs(engine, mining_run, cascade)
    graded, unlabelled = graded_candidates(engine, mining_run, cascade)
    fingerprint = _fingerprint(cfg, mining_run, cascade, graded)
    previous = runs_with_fingerprint(engine, Flow.CURRICULUM, fingerprint)
    done = next((r for r in previous if r.status == "succeeded"), None)
    if done is not None:
        log.info("curriculum run %d already holds this build", done.id)
        return CurriculumReport(**{**done.counts["report"], "reused": True})
    if not any(c.grade is not None for c in graded):
        raise DissentError(
            f"no graded candidates in mining run {mining_run} for cascade {cascade[:12]}; "
            "run `dissent annotate` first"
        )
    plan = _plan(engine, cfg, graded, unlabelled)
    with recorded_run(
        engine,
        Flow.CURRICULUM,
        {"curriculum": cfg.model_dump(mode="json")},
        {"curriculum": CURRICULUM_VERSION},
        fingerprint=fingerprint,
        mining_run_id=mining_run,
        cascade_id=cascade,
    ) as run:
        rows = _rows(run.id, plan)
        _write(engine, rows, [r.id for r in previous])
        report = CurriculumReport(
            run_id=run.id,
            mining_run=mining_run,
            cascade_id=cascade,
            levels=plan.levels,
            stages=plan.stages,
            splits=plan.splits,
            per_stage_split=_per_stage_split(rows),
            augmented={"queries": len(plan.typos), "examples": sum(row[6] for row in rows)},
            grades={str(g): sum(c.grade == g for c in graded) for g in range(3, -1, -1)},
            seconds=time.perf_counter() - started,
        )
        run.counts = {"report": asdict(report)}
    return report
