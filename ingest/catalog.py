"""Ingest a catalog: products with their fields, keyed by external id, hashed by content.

A product whose content is unchanged is left alone, so re-ingesting a file changes nothing; a
changed product is updated in place with a new ``content_hash``, so judgments made on its old
content stop being cache hits. Rows repeated with identical content are read once; the same
id with different content is an error unless the mapping's ``duplicate_ids`` says which to
keep.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.hashing import content_hash
from core.progress import track
from ingest.fields import ID_CHARS, NAME_CHARS, Fields, IngestReport, chunks
from ingest.mapping import CatalogMapping, DatasetMapping
from ingest.readers import read_rows
from ingest.text import storable
from store.schema import Product, utcnow

__all__ = ["ingest_catalog_in"]

log = logging.getLogger(__name__)

_PRODUCT_FIELDS = ("title", "description", "brand", "product_type", "attributes")


def _read_products(
    path: Path, section: CatalogMapping, fields: Fields
) -> tuple[dict[str, dict[str, Any]], int, int, set[str]]:
    cols = section.columns
    needed = [
        c
        for c in (cols.external_id, cols.title, cols.description, cols.brand, cols.product_type)
        if c
    ]
    if isinstance(cols.attributes, list):
        needed += cols.attributes
    elif cols.attributes:
        needed.append(cols.attributes)
    products: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    conflicts: set[str] = set()
    rows = repeated = 0
    for row in track(
        read_rows(
            path, section.format, needed, encoding=section.encoding, delimiter=section.delimiter
        ),
        "reading catalog",
    ):
        rows += 1
        external_id = fields.text(row, cols.external_id, required=True, limit=ID_CHARS)
        assert external_id is not None
        title = fields.free_text(row, cols.title, required=True)
        record: dict[str, Any] = {
            "external_id": external_id,
            "title": title,
            "description": fields.free_text(row, cols.description),
            "brand": fields.free_text(row, cols.brand, limit=NAME_CHARS),
            "product_type": fields.free_text(row, cols.product_type, limit=NAME_CHARS),
            "attributes": fields.attributes(row, cols.attributes),
        }
        record["content_hash"] = content_hash(
            {k: v for k, v in record.items() if k != "external_id"}
        )
        record["raw"] = {c: storable(row.values.get(c), fields.fallback) for c in needed}
        known = products.get(external_id)
        if known is not None:
            if known["content_hash"] == record["content_hash"]:
                repeated += 1
                continue
            if section.duplicate_ids == "error":
                diff = [k for k in _PRODUCT_FIELDS if known[k] != record[k]]
                raise fields.error(
                    row,
                    cols.external_id,
                    f"id {external_id!r} appeared at row {first_row[external_id]} with different "
                    f"content ({', '.join(diff)} differ); each id must describe one product "
                    "(or set catalog.duplicate_ids: keep_first|keep_last in the mapping)",
                )
            conflicts.add(external_id)
            repeated += 1
            if section.duplicate_ids == "keep_first":
                continue
        products[external_id] = record
        first_row.setdefault(external_id, row.number)
    return products, rows, repeated, conflicts


def _write_products(
    session: Session, products: dict[str, dict[str, Any]], source: str, report: IngestReport
) -> None:
    ids = list(products)
    for chunk in track(list(chunks(ids)), "writing products"):
        existing = {
            ext: (pid, digest)
            for ext, pid, digest in session.execute(
                select(Product.external_id, Product.id, Product.content_hash).where(
                    Product.external_id.in_(chunk)
                )
            )
        }
        now = utcnow()
        new = [
            {**products[e], "source": source, "created_at": now, "updated_at": now}
            for e in chunk
            if e not in existing
        ]
        changed = [
            {**products[e], "id": existing[e][0], "source": source, "updated_at": now}
            for e in chunk
            if e in existing and existing[e][1] != products[e]["content_hash"]
        ]
        if new:
            session.execute(insert(Product), new)
        if changed:
            session.execute(update(Product), changed)
        report.inserted += len(new)
        report.updated += len(changed)
        report.unchanged += len(chunk) - len(new) - len(changed)


def ingest_catalog_in(
    session: Session, path: Path, section: CatalogMapping, mapping: DatasetMapping
) -> IngestReport:
    """Read ``path`` through the mapping's catalog section and write it in ``session``.

    Raises:
        IngestError: a bad row or file (the caller's transaction must roll back).
    """
    started = time.perf_counter()
    report = IngestReport("catalog", str(path))
    fields = Fields.of(path, section, mapping)
    products, report.rows, report.repeated, conflicts = _read_products(path, section, fields)
    report.changes = fields.fixes.lines()
    if conflicts:
        report.extra["conflicting_ids"] = len(conflicts)
        log.warning(
            "%s: %d ids repeated with different content, kept their %s version: %s",
            path,
            len(conflicts),
            section.duplicate_ids.removeprefix("keep_"),
            ", ".join(sorted(conflicts)[:10]),
        )
    _write_products(session, products, mapping.name, report)
    report.seconds = time.perf_counter() - started
    log.info(report.summary())
    return report
