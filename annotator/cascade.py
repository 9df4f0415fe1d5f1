"""The cascade: tiers of growing cost grade pairs; confident answers stop early.

The cascade holds the *active* tiers of the route ``dissent calibrate`` chose
(:mod:`annotator.routing`; a bypassed tier is never called). The first active tier sees every
pair. A tier's answer is calibrated (per-class isotonic maps), turned into a grade and a
confidence for the objective (:mod:`annotator.decision`), and accepted when the confidence
reaches the tier's threshold; otherwise the pair goes to the next active tier, and the last one
always decides. A failed or
unparseable answer is retried (bounded, see :mod:`annotator.judgments`), then escalated like an
unconfident one; a pair that no tier could grade gets a ``labels`` row with status ``failed``
and no grade — never a default grade. A later run retries such a pair (each tier gets its
attempts again) and replaces the failed label when a tier grades it; the report counts them.

Every model call is a ``judgments`` row and every verdict a ``labels`` row keyed by the
cascade's id (its tiers' models, the prompt version and the calibration), so running again
is all cache hits, and a killed run resumes with the pairs it had not labelled yet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, delete, or_, select

from annotator.backends.base import Backend, Pair
from annotator.calibration import Isotonic
from annotator.decision import Decider
from annotator.judgments import Key, grade_cached, key_of
from core.hashing import content_hash
from core.progress import counter
from prompts import Prompt
from store.bulk import insert_ignore
from store.schema import Label, utcnow

__all__ = ["CascadeReport", "Tier", "TierSpec", "cascade_id", "run_cascade"]

log = logging.getLogger(__name__)


@dataclass
class TierSpec:
    """A tier as configured, before calibration: its backend and what a call costs.

    ``max_eval_pairs`` caps the calibration and test pairs a slow tier grades (a seeded
    subsample of whole queries).
    """

    name: str
    backend: Backend
    cost_weight: float | None = None
    max_attempts: int = 2
    max_eval_pairs: int | None = None


@dataclass
class Tier:
    """One active tier of the cascade: a backend, its calibration, how it decides, and when it
    stops a pair (its threshold; the last active tier decides regardless)."""

    name: str
    backend: Backend
    calibration: Isotonic | None = None
    threshold: float = 1.01  # > 1: never accepts (the last tier decides regardless)
    max_attempts: int = 2
    calibration_run: int | None = None  # the calibrate run its map and threshold come from
    decider: Decider = field(default_factory=lambda: Decider("exact"))
    position: int = 0  # 1-based place in the configured tiers (the judgments' ``tier``)

    def decide(self, distribution: Sequence[float] | None) -> tuple[int | None, float]:
        """The grade and confidence of one answer (None and -1 for a failed answer)."""
        if distribution is None:
            return None, -1.0
        dist = np.asarray([distribution], dtype=np.float64)
        if self.calibration is not None:
            dist = self.calibration.apply(dist)
        grades, confidence = self.decider.decide(dist)
        return int(grades[0]), float(confidence[0])


def cascade_id(tiers: Sequence[Tier], prompt: Prompt) -> str:
    """A short id of what decides a label: models, prompt version, calibrations, thresholds."""
    return content_hash(
        {
            "prompt": prompt.version,
            "tiers": [
                {
                    "model": t.backend.model_id,
                    "calibration": t.calibration.to_json() if t.calibration else None,
                    "decider": t.decider.to_json(),
                    "threshold": t.threshold if i < len(tiers) - 1 else None,
                }
                for i, t in enumerate(tiers)
            ],
        }
    )[:16]


@dataclass
class CascadeReport:
    cascade_id: str
    pairs: int = 0
    already_labelled: int = 0
    decided_by: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    retried: int = 0  # pairs whose failed label from an earlier run was retried
    model_calls: dict[str, int] = field(default_factory=dict)
    cache_hits: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    calibration_run: int | None = None

    def lines(self) -> list[str]:
        return [
            f"cascade {self.cascade_id}: {self.pairs:,} pairs "
            f"({self.already_labelled:,} already labelled) in {self.seconds:.1f} s",
            "  decided by: " + ", ".join(f"{k} {v:,}" for k, v in self.decided_by.items()),
            "  model calls: " + ", ".join(f"{k} {v:,}" for k, v in self.model_calls.items()),
            "  cache hits: " + ", ".join(f"{k} {v:,}" for k, v in self.cache_hits.items()),
            f"  failed at every tier (no label): {self.failed:,}",
            f"  failed labels of earlier runs retried: {self.retried:,}",
        ]


LabelKey = tuple[int, int, str]  # (query, product, content hash)


def _labelled(
    engine: Engine, pairs: Sequence[Pair], cid: str
) -> tuple[set[LabelKey], set[LabelKey]]:
    """Which of ``pairs`` already carry a label of ``cid``: graded ones, and failed ones."""
    graded: set[LabelKey] = set()
    failed: set[LabelKey] = set()
    keys = {key_of(p) for p in pairs}
    queries = sorted({q for q, _ in keys})
    with engine.connect() as conn:
        for start in range(0, len(queries), 500):  # every label of these queries, then filter
            stmt = select(Label.query_id, Label.product_id, Label.product_hash, Label.status).where(
                Label.cascade_id == cid, Label.query_id.in_(queries[start : start + 500])
            )
            for q, pid, h, status in conn.execute(stmt):
                if (q, h) in keys:
                    (failed if status == "failed" else graded).add((q, pid, h))
    return graded, failed


def _twins(pairs: Sequence[Pair], done: set[LabelKey]) -> dict[Key, list[Pair]]:
    """The pairs still to label, grouped by (query, product content): products with identical
    content are graded once per query, and each of them gets its own label."""
    twins: dict[Key, list[Pair]] = {}
    for pair in pairs:
        if (pair.query_id, pair.product_id, pair.product_hash) not in done:
            group = twins.setdefault(key_of(pair), [])
            if all(p.product_id != pair.product_id for p in group):
                group.append(pair)
    return twins


def _label_batch(
    engine: Engine,
    tiers: Sequence[Tier],
    prompt: Prompt,
    batch: Sequence[Pair],
    twins: dict[Key, list[Pair]],
    report: CascadeReport,
    progress: Sequence[Callable[[int], None]],
    run_id: int | None,
    retry: set[Key],
) -> None:
    """Send one batch down the tiers and write its labels in one transaction (replacing the
    failed labels of earlier runs for the pairs in ``retry``)."""
    rows: list[dict[str, Any]] = []
    remaining = list(batch)
    for index, tier in enumerate(tiers):
        if not remaining:
            break
        last = index == len(tiers) - 1
        position = tier.position or index + 1
        call = grade_cached(
            engine,
            tier.backend,
            prompt,
            remaining,
            tier=position,
            max_attempts=tier.max_attempts,
            run_id=run_id,
            progress=progress[index],
            retry=retry,
        )
        progress[index](call.cache_hits)
        report.model_calls[tier.name] += call.model_calls
        report.cache_hits[tier.name] += call.cache_hits
        escalate = []
        for pair in remaining:
            grade, confidence = tier.decide(call.answers[key_of(pair)].distribution)
            if grade is not None and (last or confidence >= tier.threshold):
                group = twins[key_of(pair)]
                rows.extend(
                    _label(t, report.cascade_id, grade, position, confidence, "graded", run_id)
                    for t in group
                )
                report.decided_by[tier.name] += len(group)
            else:
                escalate.append(pair)
        remaining = escalate
    for pair in remaining:  # no tier could grade it: recorded, never given a default grade
        group = twins[key_of(pair)]
        rows.extend(_label(t, report.cascade_id, None, None, None, "failed", run_id) for t in group)
        report.failed += len(group)
    with engine.begin() as conn:
        retried = [key_of(p) for p in batch if key_of(p) in retry]
        if retried:
            conn.execute(
                delete(Label).where(
                    Label.cascade_id == report.cascade_id,
                    Label.status == "failed",
                    or_(*(and_(Label.query_id == q, Label.product_hash == h) for q, h in retried)),
                )
            )
        insert_ignore(conn, Label.__table__, rows)


def run_cascade(
    engine: Engine,
    tiers: Sequence[Tier],
    prompt: Prompt,
    pairs: Sequence[Pair],
    *,
    batch_size: int = 64,
    run_id: int | None = None,
    product_fields: Callable[[Sequence[Pair]], list[Pair]] | None = None,
) -> CascadeReport:
    """Label ``pairs`` with the cascade (see the module docstring); returns what it did.

    ``pairs`` may come without their products' fields (as
    :func:`annotator.pairs.as_pairs` builds them) when ``product_fields`` fills them in:
    it is called once, on the pairs a tier will grade, so a run whose pairs are all labelled
    reads no product (labels need only the ids and the content hash).

    With a progress display open (:mod:`core.progress`), each tier has a bar of the pairs it
    graded, with its rate (the first tier's with the time remaining).
    """
    started = time.perf_counter()
    cid = cascade_id(tiers, prompt)
    report = CascadeReport(cid, pairs=len(pairs), calibration_run=tiers[0].calibration_run)
    report.decided_by = {t.name: 0 for t in tiers}
    report.model_calls = {t.name: 0 for t in tiers}
    report.cache_hits = {t.name: 0 for t in tiers}
    graded, failed = _labelled(engine, pairs, cid)
    twins = _twins(pairs, graded)
    todo = [group[0] for group in twins.values()]
    if product_fields is not None and todo:
        todo = product_fields(todo)
    retry = {key_of(p) for p in pairs if (p.query_id, p.product_id, p.product_hash) in failed}
    report.retried = sum(len(twins[key]) for key in retry)
    report.already_labelled = len(pairs) - sum(len(g) for g in twins.values())
    with ExitStack() as stack:
        progress = [
            stack.enter_context(counter(f"tier {t.position or i + 1} {t.name}", total))
            for i, t in enumerate(tiers)
            for total in [len(todo) if i == 0 else None]
        ]
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            _label_batch(engine, tiers, prompt, batch, twins, report, progress, run_id, retry)
    report.seconds = time.perf_counter() - started
    return report


def _label(
    pair: Pair,
    cid: str,
    grade: int | None,
    tier: int | None,
    confidence: float | None,
    status: str,
    run_id: int | None,
) -> dict[str, Any]:
    return {
        "query_id": pair.query_id,
        "product_id": pair.product_id,
        "product_hash": pair.product_hash,
        "cascade_id": cid,
        "grade": grade,
        "deciding_tier": tier,
        "confidence": confidence,
        "status": status,
        "run_id": run_id,
        "created_at": utcnow(),
    }
