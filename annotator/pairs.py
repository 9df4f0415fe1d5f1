"""Pairs to grade, read from the store: human-labelled pairs split by query, mined candidates.

Human labels are split **by query** into three disjoint parts — ``train`` (tier training),
``calibration`` and ``test`` — by a seeded hash of the query's external id, so a query's pairs
all land in one part, the split does not depend on row order, and adding queries never moves
old ones. Nothing is calibrated or reported on the labels a tier was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from annotator.backends.base import Pair
from core.hashing import seeded_unit
from store.schema import Candidate, HumanLabel, Product, Query

__all__ = ["SPLITS", "LabelledPair", "candidate_pairs", "labelled_pairs", "split_of"]

SPLITS = ("train", "calibration", "test")


def split_of(query_key: str, fractions: Sequence[float], seed: int = 0) -> str:
    """The split of a query: ``train``, ``calibration`` or ``test``, by a seeded hash."""
    u = seeded_unit(seed, query_key)
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions, strict=True):
        edge += fraction
        if u < edge:
            return name
    return SPLITS[-1]


@dataclass(frozen=True, slots=True)
class LabelledPair:
    pair: Pair
    grade: int
    split: str


def _product_fields(row: object) -> dict[str, object]:
    return {
        "title": row.title,  # type: ignore[attr-defined]
        "brand": row.brand,  # type: ignore[attr-defined]
        "product_type": row.product_type,  # type: ignore[attr-defined]
        "attributes": dict(row.attributes or {}),  # type: ignore[attr-defined]
        "description": row.description,  # type: ignore[attr-defined]
    }


_PAIR_COLUMNS = (
    Query.id.label("query_id"),
    Query.external_id.label("query_key"),
    Query.text.label("query"),
    Product.id.label("product_id"),
    Product.content_hash,
    Product.title,
    Product.brand,
    Product.product_type,
    Product.attributes,
    Product.description,
)


def labelled_pairs(
    engine: Engine, fractions: Sequence[float], seed: int = 0, source: str | None = None
) -> list[LabelledPair]:
    """Every human-labelled pair with its grade and split (ordered by query, product)."""
    stmt = (
        select(*_PAIR_COLUMNS, HumanLabel.grade)
        .join(Query, Query.id == HumanLabel.query_id)
        .join(Product, Product.id == HumanLabel.product_id)
        .order_by(Query.id, Product.id)
    )
    if source is not None:
        stmt = stmt.where(HumanLabel.source == source)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        LabelledPair(
            Pair(r.query_id, r.product_id, r.content_hash, r.query, _product_fields(r)),
            int(r.grade),
            split_of(r.query_key, fractions, seed),
        )
        for r in rows
    ]


def candidate_pairs(
    engine: Engine,
    run_id: int,
    sets: Sequence[str] | None = None,
    query_ids: Sequence[int] | None = None,
) -> list[tuple[Pair, str]]:
    """The mined candidates of a mining run (optionally of some queries) with their set."""
    stmt = (
        select(*_PAIR_COLUMNS, Candidate.candidate_set)
        .join(Query, Query.id == Candidate.query_id)
        .join(Product, Product.id == Candidate.product_id)
        .where(Candidate.run_id == run_id)
        .order_by(Query.id, Product.id)
    )
    if sets is not None:
        stmt = stmt.where(Candidate.candidate_set.in_(list(sets)))
    if query_ids is not None:
        stmt = stmt.where(Candidate.query_id.in_(sorted(set(query_ids))))
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [
        (
            Pair(r.query_id, r.product_id, r.content_hash, r.query, _product_fields(r)),
            r.candidate_set,
        )
        for r in rows
    ]
