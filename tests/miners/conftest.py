"""Fixtures for the miners: the shipped sample catalog as ProductDocs, one shared encoder."""

from __future__ import annotations

import json

import pytest

from core.encoder import Encoder
from core.hashing import content_hash
from store.catalog import ProductDoc
from tests.conftest import SAMPLE


def _doc(row: dict[str, object]) -> ProductDoc:
    pid = str(row["product_id"])
    fields = {k: row[k] or None for k in ("title", "description", "brand", "product_type")}
    return ProductDoc(
        id=int(pid[1:]),
        external_id=pid,
        title=str(fields["title"]),
        description=fields["description"],  # type: ignore[arg-type]
        brand=fields["brand"],  # type: ignore[arg-type]
        product_type=fields["product_type"],  # type: ignore[arg-type]
        attributes=dict(row["attributes"]),  # type: ignore[call-overload]
        content_hash=content_hash(row),
    )


@pytest.fixture(scope="session")
def sample_products() -> list[ProductDoc]:
    """The 296 hand-written sample products; ids are the numbers of P0001..P0296."""
    lines = (SAMPLE / "catalog.jsonl").read_text(encoding="utf-8").splitlines()
    return [_doc(json.loads(line)) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """The packaged all-MiniLM-L6-v2, loaded once per test session."""
    return Encoder()


def by_id(products: list[ProductDoc]) -> dict[int, ProductDoc]:
    return {p.id: p for p in products}
