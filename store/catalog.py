"""The catalog read model: products and queries as every stage reads them.

Channels index :class:`ProductDoc` lists and search :class:`QueryRow` texts; the curriculum
export and the annotator show products as :func:`product_text`. Rows come out ordered by id,
so every reader sees the same order on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine, select

from store.schema import Product, Query

__all__ = ["ProductDoc", "QueryRow", "load_products", "load_queries", "product_text"]


@dataclass(frozen=True, slots=True)
class ProductDoc:
    """What a channel sees of a product."""

    id: int
    title: str
    external_id: str = ""
    description: str | None = None
    brand: str | None = None
    product_type: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    content_hash: str = ""


def product_text(doc: ProductDoc, *, description: bool = True) -> str:
    """Title (and description) as one string: the text BM25 and the dense model read."""
    if description and doc.description:
        return f"{doc.title}. {doc.description}"
    return doc.title


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
