"""The cascade: tiers of growing cost grade pairs; confident answers stop early.

Tier 1 sees every pair. A tier's answer is calibrated (per-class isotonic maps fitted by
``dissent calibrate``) and accepted when its confidence reaches the tier's threshold;
otherwise the pair goes to the next tier, and the last tier always decides. A failed or
unparseable answer is retried (bounded, see :mod:`annotator.judgments`), then escalated like an
unconfident one; a pair that no tier could grade gets a ``labels`` row with status ``failed``
and no grade — never a default grade.

Every model call is a ``judgments`` row and every verdict a ``labels`` row keyed by the
cascade's id (its tiers' models, the prompt version and the calibration), so running again
is all cache hits, and a killed run resumes with the pairs it had not labelled yet.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, and_, or_, select

from annotator.backends.base import Backend, Pair
from annotator.calibration import Isotonic
from annotator.judgments import grade_cached, key_of
from core.hashing import content_hash
from core.progress import track
from prompts import Prompt
from store.bulk import insert_ignore
from store.schema import Label, utcnow

__all__ = ["CascadeReport", "Tier", "TierSpec", "cascade_id", "run_cascade"]

log = logging.getLogger(__name__)


@dataclass
class TierSpec:
    """A tier as configured, before calibration: its backend and what a call costs."""

    name: str
    backend: Backend
    cost_weight: float | None = None
    max_attempts: int = 2


@dataclass
class Tier:
    """One tier of the cascade: a backend, its calibration and its acceptance threshold."""

    name: str
    backend: Backend
    calibration: Isotonic | None = None
    threshold: float = 1.01  # > 1: never accepts (the last tier decides regardless)
    max_attempts: int = 2
    calibration_run: int | None = None  # the calibrate run its map and threshold come from

    def confidence(self, distribution: Sequence[float] | None) -> tuple[list[float] | None, float]:
        """The calibrated distribution and its confidence (-1 for a failed answer)."""
        if distribution is None:
            return None, -1.0
        dist = np.asarray([distribution], dtype=np.float64)
        if self.calibration is not None:
            dist = self.calibration.apply(dist)
        return dist[0].tolist(), float(dist[0].max())


def cascade_id(tiers: Sequence[Tier], prompt: Prompt) -> str:
    """A short id of what decides a label: models, prompt version, calibrations, thresholds."""
    return content_hash(
        {
            "prompt": prompt.version,
            "tiers": [
                {
                    "model": t.backend.model_id,
                    "calibration": t.calibration.to_json() if t.calibration else None,
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
        ]


def _labelled(engine: Engine, pairs: Sequence[Pair], cid: str) -> set[tuple[int, int, str]]:
    """The (query, product, content hash) of ``pairs`` that already carry a label of ``cid``."""
    found: set[tuple[int, int, str]] = set()
    keys = sorted({key_of(p) for p in pairs})
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        stmt = select(Label.query_id, Label.product_id, Label.product_hash).where(
            Label.cascade_id == cid,
            or_(*(and_(Label.query_id == q, Label.product_hash == h) for q, h in chunk)),
        )
        with engine.connect() as conn:
            found.update((q, pid, h) for q, pid, h in conn.execute(stmt))
    return found


def run_cascade(
    engine: Engine,
    tiers: Sequence[Tier],
    prompt: Prompt,
    pairs: Sequence[Pair],
    *,
    batch_size: int = 64,
    run_id: int | None = None,
) -> CascadeReport:
    """Label ``pairs`` with the cascade (see the module docstring); returns what it did."""
    started = time.perf_counter()
    cid = cascade_id(tiers, prompt)
    report = CascadeReport(cid, pairs=len(pairs), calibration_run=tiers[0].calibration_run)
    report.decided_by = {t.name: 0 for t in tiers}
    report.model_calls = {t.name: 0 for t in tiers}
    report.cache_hits = {t.name: 0 for t in tiers}
    done = _labelled(engine, pairs, cid)
    # Products with identical content (the same hash) are graded once per query, and every
    # one of them gets its own label.
    twins: dict[tuple[int, str], list[Pair]] = {}
    for pair in pairs:
        if (pair.query_id, pair.product_id, pair.product_hash) not in done:
            group = twins.setdefault(key_of(pair), [])
            if all(p.product_id != pair.product_id for p in group):
                group.append(pair)
    todo = [group[0] for group in twins.values()]
    report.already_labelled = len(pairs) - sum(len(g) for g in twins.values())
    for start in track(
        range(0, len(todo), batch_size), "annotating", total=-(-len(todo) // batch_size)
    ):
        remaining = todo[start : start + batch_size]
        rows: list[dict[str, Any]] = []
        for index, tier in enumerate(tiers):
            if not remaining:
                break
            last = index == len(tiers) - 1
            call = grade_cached(
                engine,
                tier.backend,
                prompt,
                remaining,
                tier=index + 1,
                max_attempts=tier.max_attempts,
                run_id=run_id,
            )
            report.model_calls[tier.name] += call.model_calls
            report.cache_hits[tier.name] += call.cache_hits
            escalate = []
            for pair in remaining:
                answer = call.answers[key_of(pair)]
                dist, confidence = tier.confidence(answer.distribution)
                if dist is not None and (last or confidence >= tier.threshold):
                    grade = max(range(4), key=lambda g: (dist[g], -g))
                    rows.extend(
                        _label(twin, cid, grade, index + 1, confidence, "graded", run_id)
                        for twin in twins[key_of(pair)]
                    )
                    report.decided_by[tier.name] += len(twins[key_of(pair)])
                else:
                    escalate.append(pair)
            remaining = escalate
        for pair in remaining:  # no tier could grade it: recorded, never given a default grade
            rows.extend(
                _label(t, cid, None, None, None, "failed", run_id) for t in twins[key_of(pair)]
            )
            report.failed += len(twins[key_of(pair)])
        with engine.begin() as conn:
            insert_ignore(conn, Label.__table__, rows)
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
