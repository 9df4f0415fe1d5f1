"""A label budget: which human labels a team that can afford ``B`` of them would hold.

A team adopting Dissent labels a few thousand pairs. To measure what those labels are worth,
a benchmark draws them from a labelled dataset and hands each arm only what it drew, as a
label *source* of its own (``human_labels.source``), so that every stage that reads human
labels (tier training, calibration, the ``human`` recipes) can be pointed at it.

- :func:`query_order` puts the labelled queries of the *tier-training* and *calibration*
  splits in a seeded order (never the test or evaluation split);
- :func:`draw_budget` takes **whole queries** in that order until the budget is reached: the
  budgets of one seed are nested (the 500 pairs of ``B = 500`` are the first of ``B = 2000``),
  so a curve over ``B`` compares more labels, not other labels;
- :func:`write_source` writes the drawn pairs (and whatever else an arm may read, such as the
  test split it is scored on) as one source, replacing what that source held, in one
  transaction.

Example:
    >>> drawn = [LabelledQuery(1, [(10, 3), (11, 0)]), LabelledQuery(2, [(12, 2)])]
    >>> [q.query_id for q in take_pairs(drawn, 2)], [q.query_id for q in take_pairs(drawn, 3)]
    ([1], [1, 2])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select

from core.errors import DissentError
from core.hashing import seeded_int
from store.schema import HumanLabel, Query
from store.splits import SplitsConfig, split_of

__all__ = [
    "BUDGET_SPLITS",
    "LabelledQuery",
    "draw_budget",
    "labels_of_splits",
    "query_order",
    "take_pairs",
    "write_source",
]

BUDGET_SPLITS = ("train", "calibration")
"""The splits a budget draws from: the test split measures labels, the evaluation split
retrievers, and neither may be spent."""


@dataclass(frozen=True)
class LabelledQuery:
    """A query and its human grades: ``(product_id, grade)`` pairs."""

    query_id: int
    pairs: list[tuple[int, int]]


def labels_of_splits(
    engine: Engine, splits: SplitsConfig, which: Sequence[str], source: str | None = None
) -> dict[int, list[tuple[int, int]]]:
    """Query id -> its ``(product_id, grade)`` labels, for the queries of the splits ``which``
    (of ``source`` only, when given), each query's pairs by product id."""
    stmt = (
        select(HumanLabel.query_id, Query.external_id, HumanLabel.product_id, HumanLabel.grade)
        .join(Query, Query.id == HumanLabel.query_id)
        .order_by(HumanLabel.query_id, HumanLabel.product_id)
    )
    if source is not None:
        stmt = stmt.where(HumanLabel.source == source)
    out: dict[int, list[tuple[int, int]]] = {}
    with engine.connect() as conn:
        for qid, key, pid, grade in conn.execute(stmt):
            if split_of(key, splits.fractions, splits.seed) in which:
                out.setdefault(int(qid), []).append((int(pid), int(grade)))
    return out


def query_order(
    engine: Engine, splits: SplitsConfig, seed: int, source: str | None = None
) -> list[LabelledQuery]:
    """The tier-training and calibration queries with their labels, in a seeded order."""
    labels = labels_of_splits(engine, splits, BUDGET_SPLITS, source)
    order = sorted(labels, key=lambda q: seeded_int(seed, "label-budget", q))
    return [LabelledQuery(q, labels[q]) for q in order]


def take_pairs(queries: Iterable[LabelledQuery], budget: int) -> list[LabelledQuery]:
    """Whole queries from the front of ``queries`` until they hold at least ``budget`` pairs."""
    taken, held = [], 0
    for q in queries:
        if held >= budget:
            break
        taken.append(q)
        held += len(q.pairs)
    return taken


def draw_budget(
    engine: Engine, splits: SplitsConfig, budget: int | None, seed: int, source: str | None = None
) -> list[LabelledQuery]:
    """The queries a team with ``budget`` labels would hold (None: every one of the splits).

    Raises:
        DissentError: a budget under 1, or no labelled tier-training or calibration query.
    """
    if budget is not None and budget < 1:
        raise DissentError(f"a label budget must be at least 1 pair, got {budget}")
    order = query_order(engine, splits, seed, source)
    if not order:
        raise DissentError(
            "no human labels in the tier-training or calibration split to draw a budget from; "
            "ingest labels first (`dissent ingest labels`)"
        )
    return order if budget is None else take_pairs(order, budget)


def write_source(
    engine: Engine, source: str, labels: dict[int, list[tuple[int, int]]], raw_label: str = "budget"
) -> int:
    """Make ``source`` hold exactly ``labels`` (query -> (product, grade) pairs); returns the
    number of pairs written. What the source held before is replaced in the same transaction."""
    rows = [
        {"query_id": q, "product_id": p, "grade": g, "raw_label": raw_label, "source": source}
        for q, pairs in sorted(labels.items())
        for p, g in pairs
    ]
    with engine.begin() as conn:
        conn.execute(delete(HumanLabel).where(HumanLabel.source == source))
        for start in range(0, len(rows), 5000):
            conn.execute(insert(HumanLabel), rows[start : start + 5000])
    return len(rows)
