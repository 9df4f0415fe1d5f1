"""Ingest queries: text (normalised), optional external id, frequency and segment."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from core.progress import track
from ingest.fields import ID_CHARS, Fields, IngestReport, chunks, normalize_query
from ingest.mapping import DatasetMapping, QueryMapping
from ingest.readers import read_rows
from store.schema import Query, utcnow

__all__ = ["SEGMENTS", "ingest_queries_in"]

log = logging.getLogger(__name__)

SEGMENTS = ("head", "torso", "tail")


def _read_queries(
    path: Path, section: QueryMapping, fields: Fields
) -> tuple[dict[str, dict[str, Any]], int, int]:
    cols = section.columns
    needed = [c for c in (cols.text, cols.external_id, cols.frequency, cols.segment) if c]
    queries: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    rows = repeated = 0
    for row in track(
        read_rows(
            path, section.format, needed, encoding=section.encoding, delimiter=section.delimiter
        ),
        "reading queries",
    ):
        rows += 1
        # without an id column the query's text is its id: it must fit the id column
        raw_text = fields.free_text(row, cols.text, required=True)
        assert raw_text is not None
        text = normalize_query(raw_text)
        if not cols.external_id and len(text) > ID_CHARS:
            raise fields.error(
                row,
                cols.text,
                f"the field is {len(text):,} characters; the store holds {ID_CHARS} here (the "
                "query's text is its id: give the file a query id column)",
            )
        external_id = (
            fields.text(row, cols.external_id, required=True, limit=ID_CHARS)
            if cols.external_id
            else text
        )
        assert external_id is not None
        frequency = None
        freq_text = fields.text(row, cols.frequency)
        if freq_text is not None:
            try:
                frequency = int(float(freq_text))
            except ValueError as exc:
                raise fields.error(
                    row, cols.frequency, f"expected an integer frequency, got {freq_text!r}"
                ) from exc
        segment = fields.text(row, cols.segment)
        if segment is not None:
            segment = segment.lower()
            if segment not in SEGMENTS:
                raise fields.error(
                    row, cols.segment, f"segment {segment!r} is not one of {', '.join(SEGMENTS)}"
                )
        elif frequency is not None:
            segment = (
                "head"
                if frequency >= section.head_min_frequency
                else "tail"
                if frequency <= section.tail_max_frequency
                else "torso"
            )
        record = {
            "external_id": external_id,
            "text": text,
            "frequency": frequency,
            "segment": segment,
        }
        known = queries.get(external_id)
        if known is not None:
            if known != record:
                raise fields.error(
                    row,
                    cols.external_id or cols.text,
                    f"query {external_id!r} appeared at row {first_row[external_id]} "
                    "with different content",
                )
            repeated += 1
            continue
        queries[external_id] = record
        first_row[external_id] = row.number
    return queries, rows, repeated


def _write_queries(
    session: Session, queries: dict[str, dict[str, Any]], source: str, report: IngestReport
) -> None:
    ids = list(queries)
    for chunk in chunks(ids):
        existing = {
            ext: (qid, {"external_id": ext, "text": text, "frequency": freq, "segment": seg})
            for ext, qid, text, freq, seg in session.execute(
                select(
                    Query.external_id, Query.id, Query.text, Query.frequency, Query.segment
                ).where(Query.external_id.in_(chunk))
            )
        }
        new = [
            {**queries[e], "source": source, "created_at": utcnow()}
            for e in chunk
            if e not in existing
        ]
        changed = [
            {**queries[e], "id": existing[e][0], "source": source}
            for e in chunk
            if e in existing and existing[e][1] != queries[e]
        ]
        if new:
            session.execute(insert(Query), new)
        if changed:
            session.execute(update(Query), changed)
        report.inserted += len(new)
        report.updated += len(changed)
        report.unchanged += len(chunk) - len(new) - len(changed)


def ingest_queries_in(
    session: Session, path: Path, section: QueryMapping, mapping: DatasetMapping
) -> IngestReport:
    """Read ``path`` through the mapping's queries section and write it in ``session``.

    A query's segment (head/torso/tail) comes from its segment column, else from its
    frequency and the mapping's thresholds, else stays unknown.

    Raises:
        IngestError: a bad row or file (the caller's transaction must roll back).
    """
    started = time.perf_counter()
    report = IngestReport("queries", str(path))
    fields = Fields.of(path, section, mapping)
    queries, report.rows, report.repeated = _read_queries(path, section, fields)
    report.changes = fields.fixes.lines()
    _write_queries(session, queries, mapping.name, report)
    report.seconds = time.perf_counter() - started
    log.info(report.summary())
    return report
