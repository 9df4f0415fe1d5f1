"""Reading what the channels index and search out of the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, select

from miners.base import ProductDoc
from store.schema import Product, Query

__all__ = ["QueryRow", "load_products", "load_queries"]


@dataclass(frozen=True, slots=True)
class QueryRow:
    id: int
    text: str
    segment: str | None = None


def load_products(engine: Engine) -> list[ProductDoc]:
    """Every product, ordered by id."""
    columns = (
        Product.id,
        Product.external_id,
        Product.title,
        Product.description,
        Product.brand,
        Product.product_type,
        Product.attributes,
        Product.content_hash,
    )
    with engine.connect() as conn:
        return [
            ProductDoc(
                id=r.id,
                external_id=r.external_id,
                title=r.title,
                description=r.description,
                brand=r.brand,
                product_type=r.product_type,
                attributes=dict(r.attributes or {}),
                content_hash=r.content_hash,
            )
            for r in conn.execute(select(*columns).order_by(Product.id))
        ]


def load_queries(
    engine: Engine, ids: Sequence[int] | None = None, limit: int | None = None
) -> list[QueryRow]:
    """Queries ordered by id; optionally only ``ids``, or the first ``limit``."""
    stmt = select(Query.id, Query.text, Query.segment).order_by(Query.id)
    if ids is not None:
        stmt = stmt.where(Query.id.in_(list(ids)))
    if limit is not None:
        stmt = stmt.limit(limit)
    with engine.connect() as conn:
        return [QueryRow(r.id, r.text, r.segment) for r in conn.execute(stmt)]
