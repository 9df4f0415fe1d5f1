"""Ingest a dataset's catalog, queries and human labels into the store.

Each ``ingest_*`` function reads one file through its mapping section, validates every row,
and writes in one transaction: on any bad row it raises :class:`~store.errors.IngestError`
(file, row, column, what was expected) and nothing from the file is written.

Writes are idempotent. A product or query whose content is unchanged is left alone, so
re-ingesting a file changes nothing; a changed product is updated in place with a new
``content_hash``, so judgments made on its old content are no longer cache hits.
Rows repeated within a file with identical content are read once; the same id with
different content is an error.

Example:
    >>> mapping = load_mapping(Path("configs/homedepot.yaml"))
    >>> report = ingest_dataset(engine, mapping, Path("train.csv"))
    >>> [r.summary() for r in report]
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from store.db import session_scope
from store.errors import IngestError
from store.hashing import content_hash
from store.mapping import CatalogMapping, DatasetMapping, LabelMapping, QueryMapping
from store.progress import track
from store.readers import Row, read_rows
from store.schema import HumanLabel, Product, Query, Run, utcnow

__all__ = [
    "IngestReport",
    "ingest_catalog",
    "ingest_dataset",
    "ingest_labels",
    "ingest_queries",
    "normalize_query",
]

log = logging.getLogger(__name__)

Kind = Literal["catalog", "queries", "labels"]
SEGMENTS = ("head", "torso", "tail")
CHUNK = 1000
_PRODUCT_FIELDS = ("title", "description", "brand", "product_type", "attributes")
T = TypeVar("T")


@dataclass
class IngestReport:
    """What one file's ingest did."""

    kind: str
    path: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    repeated: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.kind}: {self.rows} rows from {self.path} -> {self.inserted} new, "
            f"{self.updated} updated, {self.unchanged} unchanged, {self.repeated} repeated rows "
            f"({self.seconds:.1f} s)"
        )


def normalize_query(text: str) -> str:
    """Strip surrounding whitespace; queries without dataset ids are keyed by this text."""
    return text.strip()


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _Fields:
    """Reads typed fields out of rows of one file, with errors that name row and column."""

    def __init__(self, path: Path, max_chars: int) -> None:
        self.path = str(path)
        self.max_chars = max_chars

    def error(self, row: Row, column: str | None, message: str) -> IngestError:
        return IngestError(self.path, message, row=row.number, line=row.line, column=column)

    def text(self, row: Row, column: str | None, *, required: bool = False) -> str | None:
        if column is None:
            return None
        value = row.values.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            text = ""
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value))
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        else:
            text = str(value)
        text = text.strip()
        if len(text) > self.max_chars:
            raise self.error(
                row,
                column,
                f"the field is {len(text):,} characters; the limit is {self.max_chars:,} "
                "(raise max_field_chars in the mapping if this is real data)",
            )
        if not text:
            if required:
                raise self.error(row, column, "the field is empty; a value is required")
            return None
        return text

    def attributes(self, row: Row, spec: str | list[str] | None) -> dict[str, str]:
        if spec is None:
            return {}
        if isinstance(spec, list):
            found: dict[str, str] = {}
            for column in spec:
                value = self.text(row, column)
                if value is not None:
                    found[column] = value
            return found
        value = row.values.get(spec)
        if isinstance(value, str):
            if not value.strip():
                return {}
            if len(value) > self.max_chars:
                self.text(row, spec)  # raises the size error
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise self.error(
                    row, spec, f"expected a JSON object of attributes: {exc.msg}"
                ) from exc
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(
                row, spec, f"expected a JSON object of attributes, got {type(value).__name__}"
            )
        out = {}
        for key, item in value.items():
            if item is None or item == "":
                continue
            text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            if len(text) > self.max_chars:
                raise self.error(
                    row,
                    spec,
                    f"attribute {key!r} is {len(text):,} characters; limit {self.max_chars:,}",
                )
            out[str(key)] = text.strip()
        return out


def _start_run(session: Session, kind: str, path: Path, mapping: DatasetMapping) -> Run:
    run = Run(
        flow=f"ingest-{kind}",
        parameters={"file": str(path), "mapping": mapping.name},
        versions={"schema": "0001"},
    )
    session.add(run)
    session.flush()
    return run


def _finish_run(run: Run, report: IngestReport) -> None:
    run.counts = {k: v for k, v in asdict(report).items() if isinstance(v, int)}
    run.status = "succeeded"
    run.finished_at = utcnow()


# --------------------------------------------------------------------------------- catalog


def _read_products(
    path: Path, section: CatalogMapping, mapping: DatasetMapping
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
    fields = _Fields(path, mapping.max_field_chars)
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
        external_id = fields.text(row, cols.external_id, required=True)
        assert external_id is not None
        title = fields.text(row, cols.title, required=True)
        record: dict[str, Any] = {
            "external_id": external_id,
            "title": title,
            "description": fields.text(row, cols.description),
            "brand": fields.text(row, cols.brand),
            "product_type": fields.text(row, cols.product_type),
            "attributes": fields.attributes(row, cols.attributes),
        }
        record["content_hash"] = content_hash(
            {k: v for k, v in record.items() if k != "external_id"}
        )
        record["raw"] = {c: row.values.get(c) for c in needed}
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
    for chunk in track(list(_chunks(ids)), "writing products"):
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


def ingest_catalog(
    engine: Engine, mapping: DatasetMapping, file: Path | None = None
) -> IngestReport:
    """Ingest products from ``file`` (default: the mapping's ``catalog.file``).

    Raises:
        IngestError: a bad row or file; nothing was written.
        MappingError: the mapping has no ``catalog`` section or names no file.
    """
    section = _section(mapping, "catalog")
    assert isinstance(section, CatalogMapping)
    path = mapping.resolve(str(file) if file else None, "catalog")
    with session_scope(engine) as session:
        return _ingest_catalog(session, path, section, mapping)


def _ingest_catalog(
    session: Session, path: Path, section: CatalogMapping, mapping: DatasetMapping
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport("catalog", str(path))
    products, report.rows, report.repeated, conflicts = _read_products(path, section, mapping)
    if conflicts:
        report.extra["conflicting_ids"] = len(conflicts)
        log.warning(
            "%s: %d ids repeated with different content, kept their %s version: %s",
            path,
            len(conflicts),
            section.duplicate_ids.removeprefix("keep_"),
            ", ".join(sorted(conflicts)[:10]),
        )
    run = _start_run(session, "catalog", path, mapping)
    _write_products(session, products, mapping.name, report)
    report.seconds = time.perf_counter() - started
    _finish_run(run, report)
    log.info(report.summary())
    return report


# --------------------------------------------------------------------------------- queries


def _read_queries(
    path: Path, section: QueryMapping, mapping: DatasetMapping
) -> tuple[dict[str, dict[str, Any]], int, int]:
    cols = section.columns
    needed = [c for c in (cols.text, cols.external_id, cols.frequency, cols.segment) if c]
    fields = _Fields(path, mapping.max_field_chars)
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
        raw_text = fields.text(row, cols.text, required=True)
        assert raw_text is not None
        text = normalize_query(raw_text)
        external_id = (
            fields.text(row, cols.external_id, required=True) if cols.external_id else text
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
    for chunk in _chunks(ids):
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


def ingest_queries(
    engine: Engine, mapping: DatasetMapping, file: Path | None = None
) -> IngestReport:
    """Ingest queries from ``file`` (default: the mapping's ``queries.file``).

    A query's segment (head/torso/tail) comes from its segment column, else from its
    frequency and the mapping's thresholds, else stays unknown.

    Raises:
        IngestError: a bad row or file; nothing was written.
    """
    section = _section(mapping, "queries")
    assert isinstance(section, QueryMapping)
    path = mapping.resolve(str(file) if file else None, "queries")
    with session_scope(engine) as session:
        return _ingest_queries(session, path, section, mapping)


def _ingest_queries(
    session: Session, path: Path, section: QueryMapping, mapping: DatasetMapping
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport("queries", str(path))
    queries, report.rows, report.repeated = _read_queries(path, section, mapping)
    run = _start_run(session, "queries", path, mapping)
    _write_queries(session, queries, mapping.name, report)
    report.seconds = time.perf_counter() - started
    _finish_run(run, report)
    log.info(report.summary())
    return report


# ---------------------------------------------------------------------------------- labels


@dataclass(slots=True)
class _LabelRow:
    row: Row
    query: str
    product: str
    grade: int
    raw: str
    spread: float | None


def _read_labels(
    path: Path, section: LabelMapping, mapping: DatasetMapping
) -> tuple[dict[tuple[str, str], _LabelRow], int, int]:
    cols = section.columns
    needed = [c for c in (cols.query, cols.product, cols.label, cols.rater_spread) if c]
    fields = _Fields(path, mapping.max_field_chars)
    labels: dict[tuple[str, str], _LabelRow] = {}
    rows = repeated = 0
    for row in track(
        read_rows(
            path, section.format, needed, encoding=section.encoding, delimiter=section.delimiter
        ),
        "reading labels",
    ):
        rows += 1
        query = fields.text(row, cols.query, required=True)
        product = fields.text(row, cols.product, required=True)
        raw = fields.text(row, cols.label, required=True)
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
    for chunk in _chunks(sorted(set(external_ids))):
        rows = session.execute(
            select(model.external_id, model.id).where(model.external_id.in_(chunk))
        )
        found.update((ext, pk) for ext, pk in rows)
    return found


def ingest_labels(
    engine: Engine, mapping: DatasetMapping, file: Path | None = None
) -> IngestReport:
    """Ingest human labels from ``file`` (default: the mapping's ``labels.file``).

    Every label must name a query and a product already in the store (ingest the catalog and
    queries first, or use :func:`ingest_dataset`) and a raw label the mapping's scale covers.

    Raises:
        IngestError: a bad row or file; nothing was written.
    """
    section = _section(mapping, "labels")
    assert isinstance(section, LabelMapping)
    path = mapping.resolve(str(file) if file else None, "labels")
    with session_scope(engine) as session:
        return _ingest_labels(session, path, section, mapping)


def _ingest_labels(
    session: Session, path: Path, section: LabelMapping, mapping: DatasetMapping
) -> IngestReport:
    started = time.perf_counter()
    report = IngestReport("labels", str(path))
    labels, report.rows, report.repeated = _read_labels(path, section, mapping)
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
    run = _start_run(session, "labels", path, mapping)
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
    for chunk in track(list(_chunks(new)), "writing labels"):
        session.execute(insert(HumanLabel), list(chunk))
    for chunk in _chunks(changed):
        session.execute(update(HumanLabel), list(chunk))
    report.inserted, report.updated = len(new), len(changed)
    report.unchanged = len(labels) - len(new) - len(changed)
    grades = [lab.grade for lab in labels.values()]
    report.extra["grades"] = {g: grades.count(g) for g in range(4)}
    report.seconds = time.perf_counter() - started
    _finish_run(run, report)
    log.info(report.summary())
    return report


# ---------------------------------------------------------------------------------- dataset


def _section(mapping: DatasetMapping, kind: Kind) -> CatalogMapping | QueryMapping | LabelMapping:
    from store.errors import MappingError

    section = getattr(mapping, kind)
    if section is None:
        raise MappingError(f"mapping '{mapping.name}' has no '{kind}' section")
    return section


def ingest_dataset(
    engine: Engine, mapping: DatasetMapping, file: Path | None = None
) -> list[IngestReport]:
    """Ingest every section the mapping has (catalog, then queries, then labels) at once.

    With ``file`` every section reads that one file (as for Home Depot's ``train.csv``, which
    holds products, queries and labels in each row); otherwise each section reads its own
    ``file``. All sections are written in one transaction: a bad row anywhere writes nothing.

    Raises:
        IngestError: a bad row or file; nothing was written.
        MappingError: the mapping has no sections, or a section names no file.
    """
    kinds = [k for k in ("catalog", "queries", "labels") if getattr(mapping, k) is not None]
    if not kinds:
        from store.errors import MappingError

        raise MappingError(f"mapping '{mapping.name}' has no catalog, queries or labels section")
    paths = {k: mapping.resolve(str(file) if file else None, k) for k in kinds}
    reports = []
    with session_scope(engine) as session:
        if mapping.catalog is not None:
            reports.append(_ingest_catalog(session, paths["catalog"], mapping.catalog, mapping))
        if mapping.queries is not None:
            reports.append(_ingest_queries(session, paths["queries"], mapping.queries, mapping))
        if mapping.labels is not None:
            session.flush()
            reports.append(_ingest_labels(session, paths["labels"], mapping.labels, mapping))
    return reports
