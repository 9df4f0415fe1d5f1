"""Pairs to grade, read from the store: human-labelled pairs split by query, mined candidates.

Human labels carry the split of their query (:mod:`store.splits`): ``train`` (tier
training), ``calibration``, ``test`` and ``evaluation``. The annotator uses the first three;
nothing is calibrated or reported on the labels a tier was trained on, and evaluation queries
are never read here. Each keeps its ``source`` (the dataset it was ingested from, or
``review`` for the labelling page), which the calibration report counts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from sqlalchemy import Engine, select

from annotator.backends.base import Pair
from core.errors import DissentError
from prompts import sanitize
from store.schema import Candidate, HumanLabel, Product, Query
from store.splits import SplitsConfig, split_of

__all__ = [
    "CandidateRow",
    "LabelledPair",
    "as_pairs",
    "candidate_pairs",
    "candidate_rows",
    "labelled_pairs",
    "random_pairs",
    "require_splits",
    "with_product_fields",
]


@dataclass(frozen=True, slots=True)
class LabelledPair:
    """A pair with its grade and split; ``source`` is the ``human_labels`` source ("" for a
    grade no person gave, such as a random product taken as Irrelevant)."""

    pair: Pair
    grade: int
    split: str
    source: str = ""


def _product_fields(row: Any) -> dict[str, Any]:
    """What every tier sees of a product: its fields with instruction-like text removed
    (:func:`prompts.sanitize.sanitize`)."""
    return {
        "title": sanitize(row.title),
        "brand": row.brand,
        "product_type": row.product_type,
        "attributes": {k: sanitize(str(v)) for k, v in (row.attributes or {}).items()},
        "description": sanitize(row.description) if row.description else row.description,
    }


_PRODUCT_COLUMNS = (
    Product.title,
    Product.brand,
    Product.product_type,
    Product.attributes,
    Product.description,
)
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
    engine: Engine, splits: SplitsConfig, source: str | None = None
) -> list[LabelledPair]:
    """The human-labelled pairs of the train, calibration and test splits, with grade, split
    and source (ordered by query, product, source), of every source unless ``source`` names
    one. Evaluation queries' labels are left out: the annotator never sees them. A pair
    labelled by two sources (a dataset and the review page) comes once per source."""
    stmt = (
        select(*_PAIR_COLUMNS, HumanLabel.grade, HumanLabel.source.label("label_source"))
        .join(Query, Query.id == HumanLabel.query_id)
        .join(Product, Product.id == HumanLabel.product_id)
        .order_by(Query.id, Product.id, HumanLabel.source)
    )
    if source is not None:
        stmt = stmt.where(HumanLabel.source == source)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    out = []
    for r in rows:
        split = split_of(r.query_key, splits.fractions, splits.seed)
        if split != "evaluation":
            pair = Pair(r.query_id, r.product_id, r.content_hash, r.query, _product_fields(r))
            out.append(LabelledPair(pair, int(r.grade), split, r.label_source))
    return out


class CandidateRow(NamedTuple):
    """One mined candidate as the store keeps it: what sampling chooses among."""

    query_id: int
    product_id: int
    candidate_set: str


def candidate_rows(
    engine: Engine,
    run_id: int,
    sets: Sequence[str] | None = None,
    query_ids: Sequence[int] | None = None,
) -> list[CandidateRow]:
    """The mined candidates of a mining run (optionally of some sets and queries), ordered by
    query and product: plain rows, cheap enough to read by the million and sample from
    (:func:`annotator.sampling.sample_candidates`) before anything is built for them."""
    stmt = (
        select(Candidate.query_id, Candidate.product_id, Candidate.candidate_set)
        .where(Candidate.run_id == run_id)
        .order_by(Candidate.query_id, Candidate.product_id)
    )
    if sets is not None:
        stmt = stmt.where(Candidate.candidate_set.in_(list(sets)))
    if query_ids is not None:
        stmt = stmt.where(Candidate.query_id.in_(sorted(set(query_ids))))
    with engine.connect() as conn:
        result = conn.execute(stmt)
        # the driver's own tuples: building SQLAlchemy rows took half of a cached re-annotate
        raw = result.cursor.fetchall()
        result.close()
    return list(map(CandidateRow._make, raw))


def as_pairs(engine: Engine, rows: Sequence[CandidateRow]) -> list[Pair]:
    """``rows`` as pairs with query text and product content hash but *without* product fields
    (``pair.product`` is empty): fill those in with :func:`with_product_fields` for the pairs a
    model will grade."""
    queries = sorted({r.query_id for r in rows})
    texts: dict[int, str] = {}
    with engine.connect() as conn:
        for start in range(0, len(queries), 5000):
            chunk = queries[start : start + 5000]
            texts.update(
                conn.execute(select(Query.id, Query.text).where(Query.id.in_(chunk))).all()
            )
        hashes = dict(conn.execute(select(Product.id, Product.content_hash)).all())
    return [Pair(q, p, hashes[p], texts[q], _NO_FIELDS) for q, p, _ in rows]


def candidate_pairs(
    engine: Engine,
    run_id: int,
    sets: Sequence[str] | None = None,
    query_ids: Sequence[int] | None = None,
) -> list[tuple[Pair, str]]:
    """The mined candidates of a mining run (optionally of some queries) with their set,
    ordered by query and product, *without* product fields (``pair.product`` is empty).

    A mining run holds millions of candidates of which an annotation budget grades a few:
    to grade, choose among :func:`candidate_rows` first, then build :func:`as_pairs` and read
    the products of those a tier grades with :func:`with_product_fields`.
    """
    rows = candidate_rows(engine, run_id, sets, query_ids)
    return [
        (pair, row.candidate_set) for pair, row in zip(as_pairs(engine, rows), rows, strict=True)
    ]


_NO_FIELDS: dict[str, Any] = {}


def with_product_fields(engine: Engine, pairs: Sequence[Pair]) -> list[Pair]:
    """``pairs`` with the fields every tier sees of their products, each product read and
    sanitised once however many queries it is a candidate for."""
    ids = sorted({p.product_id for p in pairs})
    fields: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 5000):
            chunk = ids[start : start + 5000]
            stmt = select(Product.id, *_PRODUCT_COLUMNS).where(Product.id.in_(chunk))
            fields.update((r.id, _product_fields(r)) for r in conn.execute(stmt))
    return [replace(p, product=fields[p.product_id]) for p in pairs]


def random_pairs(engine: Engine, query_ids: Sequence[int], count: int, seed: int = 0) -> list[Pair]:
    """``count`` seeded (query, random catalog product) pairs that no human labelled.

    Nearly all are unrelated, so the share a grader calls relevant (>= 2) is a sanity figure
    that needs no label: a tier that calls a perfume Exact for "light bulb" shows it here.
    """
    if count <= 0 or not query_ids:
        return []
    with engine.connect() as conn:
        product_ids = list(conn.execute(select(Product.id).order_by(Product.id)).scalars())
        labelled = {
            tuple(r) for r in conn.execute(select(HumanLabel.query_id, HumanLabel.product_id))
        }
    rng = random.Random(seed)
    chosen: dict[tuple[int, int], None] = {}
    for _ in range(20 * count):
        if len(chosen) == count:
            break
        key = (rng.choice(list(query_ids)), rng.choice(product_ids))
        if key not in labelled:
            chosen[key] = None
    queries = {q for q, _ in chosen}
    products = {p for _, p in chosen}
    with engine.connect() as conn:
        texts = dict(conn.execute(select(Query.id, Query.text).where(Query.id.in_(queries))).all())
        columns = (Product.id, Product.content_hash, *_PRODUCT_COLUMNS)
        rows = {r.id: r for r in conn.execute(select(*columns).where(Product.id.in_(products)))}
    return [Pair(q, p, rows[p].content_hash, texts[q], _product_fields(rows[p])) for q, p in chosen]


def require_splits(labelled: Sequence[LabelledPair]) -> None:
    """Raise DissentError unless the calibration and the test split both have human labels."""
    cal = sum(lp.split == "calibration" for lp in labelled)
    test = sum(lp.split == "test" for lp in labelled)
    if not cal or not test:
        raise DissentError(
            f"calibration needs human labels in both the calibration and test splits "
            f"(have {cal} and {test} pairs); ingest more labels or change splits.fractions"
        )
