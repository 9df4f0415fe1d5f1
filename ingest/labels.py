"""Ingest human labels: (query, product, raw label) mapped onto the internal 0–3 scale.

The raw label is kept beside the grade, with the rater spread where the data has one. A pair
has one label per source; the same pair labelled twice differently in one file is an error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.errors import IngestError
from core.progress import track
from ingest.fields import RAW_LABEL_CHARS, Fields, IngestReport, chunks, normalize_query
from ingest.mapping import DatasetMapping, LabelMapping
from ingest.readers import Row, read_rows
from store.schema import HumanLabel, Product, Query, utcnow

__all__ = ["ingest_labels_in"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _LabelRow:
    row: Row
    query: str
    product: str
    grade: int
    raw: str
    spread: float | None


def _read_labels(
    path: Path, section: LabelMapping, fields: Fields
) -> tuple[dict[tuple[str, str], _LabelRow], int, int]:
    cols = section.columns
    needed = [c for c in (cols.query, cols.product, cols.label, cols.rater_spread) if c]
    labels: dict[tuple[str, str], _LabelRow] = {}
    rows = repeated = 0
    for row in track(
        read_rows(
            path, section.format, needed, encoding=section.encoding, delimiter=section.delimiter
        ),
        "reading labels",
    ):
        rows += 1
        query = fields.free_text(row, cols.query, required=True)  # ids or text, as in queries
        product = fields.text(row, cols.product, required=True)
        raw = fields.text(row, cols.label, required=True, limit=RAW_LABEL_CHARS)
        assert query is not None and product is not None and raw is not None
        query = normalize_query(query)
        grade = section.scale.grade(raw)
        if grade is None:
            raise fields.error(
                row,
                cols.label,
                f"label {raw!r} is not in the mapping's scale; expected {section.scale.allowed()}",
            )
        spread = None
        spread_text = fields.text(row, cols.rater_spread)
        if spread_text is not None:
            try:
                spread = float(spread_text)
            except ValueError as exc:
                raise fields.error(
                    row, cols.rater_spread, f"expected a number, got {spread_text!r}"
                ) from exc
        record = _LabelRow(row, query, product, grade, raw, spread)
        known = labels.get((query, product))
        if known is not None:
            if (known.raw, known.spread) != (raw, spread):
                raise fields.error(
                    row,
                    cols.label,
                    f"pair ({query!r}, {product!r}) was labelled {known.raw!r} at row "
                    f"{known.row.number} and {raw!r} here; give one label per pair and source",
                )
            repeated += 1
            continue
        labels[(query, product)] = record
    return labels, rows, repeated


def _resolve(
    session: Session, model: type[Product] | type[Query], external_ids: Iterable[str]
) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in chunks(sorted(set(external_ids))):
        rows = session.execute(
            select(model.external_id, model.id).where(model.external_id.in_(chunk))
        )
        found.update((ext, pk) for ext, pk in rows)
    return found


def ingest_labels_in(
    session: Session, path: Path, section: LabelMapping, mapping: DatasetMapping
) -> IngestReport:
    """Read ``path`` through the mapping's labels section and write it in ``session``.

    Every label must name a query and a product already in the store (or written earlier in
    the same session) and a raw label the mapping's scale covers.

    Raises:
        IngestError: a bad row or file (the caller's transaction must roll back).
    """
    started = time.perf_counter()
    report = IngestReport("labels", str(path))
    fields = Fields.of(path, section, mapping)
    labels, report.rows, report.repeated = _read_labels(path, section, fields)
    report.changes = fields.fixes.lines()
    query_ids = _resolve(session, Query, (k[0] for k in labels))
    product_ids = _resolve(session, Product, (k[1] for k in labels))
    cols = section.columns
    for label in labels.values():
        for key, ids, column, what, kind in (
            (label.query, query_ids, cols.query, "query", "queries"),
            (label.product, product_ids, cols.product, "product", "catalog"),
        ):
            if key not in ids:
                raise IngestError(
                    str(path),
                    f"{what} {key!r} is not in the store; ingest the {kind} first",
                    row=label.row.number,
                    line=label.row.line,
                    column=column,
                )
    existing = {
        (q, p): (lid, grade, raw, spread)
        for lid, q, p, grade, raw, spread in session.execute(
            select(
                HumanLabel.id,
                HumanLabel.query_id,
                HumanLabel.product_id,
                HumanLabel.grade,
                HumanLabel.raw_label,
                HumanLabel.rater_spread,
            ).where(HumanLabel.source == mapping.name)
        )
    }
    new, changed = [], []
    for label in labels.values():
        pair = (query_ids[label.query], product_ids[label.product])
        values = {"grade": label.grade, "raw_label": label.raw, "rater_spread": label.spread}
        if pair not in existing:
            new.append(
                {
                    "query_id": pair[0],
                    "product_id": pair[1],
                    "source": mapping.name,
                    "created_at": utcnow(),
                    **values,
                }
            )
        elif existing[pair][1:] != (label.grade, label.raw, label.spread):
            changed.append({"id": existing[pair][0], **values})
    for chunk in track(list(chunks(new)), "writing labels"):
        session.execute(insert(HumanLabel), list(chunk))
    for chunk in chunks(changed):
        session.execute(update(HumanLabel), list(chunk))
    report.inserted, report.updated = len(new), len(changed)
    report.unchanged = len(labels) - len(new) - len(changed)
    grades = [lab.grade for lab in labels.values()]
    report.extra["grades"] = {g: grades.count(g) for g in range(4)}
    report.seconds = time.perf_counter() - started
    log.info(report.summary())
    return report
