"""Which pairs people should label next: the active queue, and its random and stratified controls.

:func:`propose` reads a mining run's candidates with what the cascade said of them (tier 1's
grade distribution from ``judgments``, the cascade's grade from ``labels``) and proposes ``n``
pairs no person has graded or been queued yet. Pairs fall into *cells*, one per disagreement set
and cascade grade (``ungraded`` when the cascade has not seen the pair), so that every set and
grade is covered:

- ``active``: the slots are shared out over the cells (equal shares, what a small cell cannot
  use going to the larger ones); within a cell the pairs where tier 1 is least sure come first
  (the entropy of its grade distribution, 0 when it is sure, 1 when every grade is equally
  likely; ungraded pairs count as unsure); at most ``per_query`` pairs of one query;
- ``stratified``: the same cells and shares, in a seeded random order within each cell;
- ``random``: a seeded random sample of every eligible pair (the control to measure the others
  against).

Ties and random orders come from a seeded hash of the pair, so the same store, strategy and seed
propose the same pairs; pairs already queued or labelled are left out, so proposing again
continues where the queue stands. The proposals come in a round-robin over the cells, so the
first labels already cover every cell. :func:`fill_queue` appends them to ``review_items``, a
seeded ``overlap_share`` of them wanted from two people.

Example:
    >>> cells = {"a": [1, 2, 3, 4, 5], "b": [6], "c": [7, 8]}
    >>> _shares({k: len(v) for k, v in cells.items()}, 6)
    {'a': 3, 'b': 1, 'c': 2}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, insert, select

from core.hashing import seeded_int, seeded_unit
from review.config import ReviewSettings, Strategy
from review.verdicts import cascade_grades, tier1_distributions
from store.ledger import Flow, resolve_run
from store.schema import Candidate, HumanLabel, ReviewItem
from store.splits import evaluation_queries

__all__ = ["FillReport", "Proposal", "entropy", "fill_queue", "propose"]

UNGRADED = "ungraded"


@dataclass(frozen=True)
class Proposal:
    """A pair to label, the cell it stands for and why it was chosen."""

    query_id: int
    product_id: int
    cell: str
    uncertainty: float | None
    reason: dict[str, Any] = field(default_factory=dict)


def entropy(distribution: Sequence[float]) -> float:
    """The entropy of a grade distribution over its maximum: 0 sure, 1 uniform.

    Example:
        >>> entropy([1, 0, 0, 0]), entropy([0.25] * 4), round(entropy([0.5, 0.5, 0, 0]), 3)
        (0.0, 1.0, 0.5)
    """
    total = sum(distribution)
    if total <= 0 or len(distribution) < 2:
        return 1.0
    h = -sum((p / total) * math.log(p / total) for p in distribution if p > 0)
    return max(0.0, min(1.0, h / math.log(len(distribution))))


def _eligible(
    engine: Engine,
    mining_run: int,
    settings: ReviewSettings,
    among: Collection[tuple[int, int]] | None = None,
    labelled: Collection[tuple[int, int]] | None = None,
) -> list[tuple[int, int, str]]:
    """The run's candidates that no person graded or was queued (or, given ``labelled``, that
    are not in it), of ``among`` only when given, outside the evaluation split."""
    held = evaluation_queries(engine, settings.splits)
    with engine.connect() as conn:
        if labelled is None:
            taken = {
                tuple(r) for r in conn.execute(select(HumanLabel.query_id, HumanLabel.product_id))
            }
            taken |= {
                tuple(r) for r in conn.execute(select(ReviewItem.query_id, ReviewItem.product_id))
            }
        else:
            taken = set(labelled)
        rows = conn.execute(
            select(Candidate.query_id, Candidate.product_id, Candidate.candidate_set)
            .where(Candidate.run_id == mining_run)
            .order_by(Candidate.query_id, Candidate.product_id)
        )
        allowed = None if among is None else set(among)
        return [
            r
            for r in rows
            if r[0] not in held
            and (r[0], r[1]) not in taken
            and (allowed is None or (r[0], r[1]) in allowed)
        ]


def _shares(sizes: dict[str, int], n: int) -> dict[str, int]:
    """``n`` slots over cells of ``sizes``: equal shares, a cell's unused share to the others."""
    shares = {cell: 0 for cell in sizes}
    left = min(n, sum(sizes.values()))
    while left > 0:
        open_cells = sorted(c for c in sizes if shares[c] < sizes[c])
        each = max(1, left // len(open_cells))
        for cell in open_cells:
            give = min(each, sizes[cell] - shares[cell], left)
            shares[cell] += give
            left -= give
            if left == 0:
                break
    return shares


def _order(pairs: list[Proposal], strategy: Strategy, seed: int) -> list[Proposal]:
    key = lambda p: seeded_int(seed, "review-order", p.query_id, p.product_id)  # noqa: E731
    if strategy == "active":
        return sorted(
            pairs, key=lambda p: (-(1.0 if p.uncertainty is None else p.uncertainty), key(p))
        )
    return sorted(pairs, key=key)


def propose(
    engine: Engine,
    settings: ReviewSettings,
    n: int,
    *,
    strategy: Strategy | None = None,
    mining_run: int | None = None,
    among: Collection[tuple[int, int]] | None = None,
    labelled: Collection[tuple[int, int]] | None = None,
    distributions: Mapping[tuple[int, int], Sequence[float]] | None = None,
    grades: Mapping[tuple[int, int], int] | None = None,
) -> list[Proposal]:
    """Up to ``n`` pairs of ``mining_run`` (default: the latest) for people to label next.

    Args:
        engine: the store.
        settings: the pipeline config (``review``: strategy, per_query, seed; ``splits``).
        n: how many pairs.
        strategy: ``active``, ``stratified`` or ``random`` (default: ``review.strategy``).
        mining_run: whose candidates to choose among.
        among: (query, product) pairs that may be proposed (default: every candidate). A
            simulation on a labelled dataset passes the judged pairs: a label exists only
            for them.
        labelled: pairs already labelled, never proposed again (default: the store's human
            labels and the queue).
        distributions: tier 1's grade distribution per pair (default: its latest judgments in
            the store, which cover only the pairs annotated so far).
        grades: the grade each pair's cell is named by (default: the cascade's latest label
            in the store). A simulation whose store holds other cascades' labels passes the
            grades of the tier 1 it stands for.

    Raises:
        DissentError: no such mining run.
    """
    config = settings.review
    strategy = strategy or config.strategy
    run = resolve_run(engine, Flow.MINE, mining_run).id
    with engine.connect() as conn:  # the store's answers, where the call brings none
        dists = (
            tier1_distributions(conn)
            if distributions is None
            else {pair: list(d) for pair, d in distributions.items()}
        )
        named_by = cascade_grades(conn) if grades is None else grades
    pairs = []
    for q, p, candidate_set in _eligible(engine, run, settings, among, labelled):
        grade = named_by.get((q, p))
        dist = dists.get((q, p))
        uncertainty = entropy(dist) if dist else None
        cell = f"{candidate_set} / {UNGRADED if grade is None else f'grade {grade}'}"
        reason = {"set": candidate_set, "cascade_grade": grade, "tier1_entropy": uncertainty}
        pairs.append(Proposal(q, p, cell, uncertainty, reason))
    if strategy == "random":
        return _order(pairs, "random", config.seed)[:n]
    cells: dict[str, list[Proposal]] = defaultdict(list)
    for proposal in _order(pairs, strategy, config.seed):
        cells[proposal.cell].append(proposal)
    return _round_robin(cells, n, config.per_query)


def _round_robin(cells: dict[str, list[Proposal]], n: int, per_query: int) -> list[Proposal]:
    """Take each cell's share in its order, at most ``per_query`` pairs a query, the cells in
    turn; shares a cell cannot fill (for the per-query cap) go to the others."""
    chosen: list[Proposal] = []
    per: dict[int, int] = defaultdict(int)
    queues = {cell: list(items) for cell, items in sorted(cells.items())}
    while len(chosen) < n:
        sizes = {c: len(items) for c, items in queues.items() if items}
        if not sizes:
            break
        shares = _shares(sizes, n - len(chosen))
        picked: dict[str, list[Proposal]] = {}
        for cell, share in shares.items():
            picked[cell] = []
            while queues[cell] and len(picked[cell]) < share:
                proposal = queues[cell].pop(0)
                if per[proposal.query_id] < per_query:
                    per[proposal.query_id] += 1
                    picked[cell].append(proposal)
        if not any(picked.values()):
            break
        for i in range(max(len(v) for v in picked.values())):  # the cells in turn
            chosen.extend(v[i] for v in picked.values() if i < len(v))
    return chosen[:n]


@dataclass
class FillReport:
    """What :func:`fill_queue` added: how many pairs, per cell, how many wanted twice."""

    strategy: str
    added: int = 0
    overlap: int = 0
    cells: dict[str, int] = field(default_factory=dict)
    queued: int = 0

    def lines(self) -> list[str]:
        cells = ", ".join(f"{c} {n:,}" for c, n in sorted(self.cells.items()))
        return [
            f"queued {self.added:,} pairs ({self.strategy}; {self.overlap:,} for two people); "
            f"{self.queued:,} in the queue",
            f"  cells: {cells or 'none'}",
        ]


def fill_queue(
    engine: Engine,
    settings: ReviewSettings,
    n: int | None = None,
    *,
    strategy: Strategy | None = None,
    mining_run: int | None = None,
) -> FillReport:
    """Append :func:`propose`'s pairs to the labelling queue (default ``review.target`` of
    them); a seeded ``review.overlap_share`` is wanted from two people."""
    config = settings.review
    strategy = strategy or config.strategy
    proposals = propose(
        engine, settings, n or config.target, strategy=strategy, mining_run=mining_run
    )
    report = FillReport(strategy)
    with engine.begin() as conn:
        start = conn.scalar(select(func.coalesce(func.max(ReviewItem.position), 0))) or 0
        rows = []
        for offset, p in enumerate(proposals, start=1):
            twice = seeded_unit(config.seed, "review-overlap", p.query_id, p.product_id)
            raters = 2 if twice < config.overlap_share else 1
            rows.append(
                {
                    "query_id": p.query_id,
                    "product_id": p.product_id,
                    "position": start + offset,
                    "raters": raters,
                    "taken": 0,
                    "strategy": strategy,
                    "reason": {**p.reason, "cell": p.cell},
                }
            )
            report.overlap += raters == 2
            report.cells[p.cell] = report.cells.get(p.cell, 0) + 1
        if rows:
            conn.execute(insert(ReviewItem), rows)
        report.added = len(rows)
        report.queued = conn.scalar(select(func.count()).select_from(ReviewItem)) or 0
    return report
