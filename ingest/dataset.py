"""Ingest a dataset's catalog, queries and human labels into the store.

Each ``ingest_*`` function reads its file(s) through the mapping, validates every row, and
writes in one transaction together with one ``ingest`` run in the ledger: on any bad row it
raises :class:`~core.errors.IngestError` (file, row, column, what was expected) and nothing
from the file is written, not even the run.

Writes are idempotent. A product or query whose content is unchanged is left alone, so
re-ingesting a file changes nothing; a changed product is updated in place with a new
``content_hash``, so judgments made on its old content are no longer cache hits.

Example:
    >>> from ingest.mapping import load_mapping
    >>> from store.db import open_store
    >>> mapping = load_mapping(Path("sample/mapping.yaml"))
    >>> reports = ingest_dataset(open_store("sqlite://"), mapping)
    >>> [(r.kind, r.inserted) for r in reports]
    [('catalog', 296), ('queries', 40), ('labels', 394)]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.errors import MappingError
from ingest.catalog import ingest_catalog_in
from ingest.fields import IngestReport
from ingest.labels import ingest_labels_in
from ingest.mapping import DatasetMapping
from ingest.queries import ingest_queries_in
from store.db import session_scope
from store.ledger import Flow, record_finished

__all__ = ["ingest_catalog", "ingest_dataset", "ingest_labels", "ingest_queries"]

Kind = Literal["catalog", "queries", "labels"]
KINDS: tuple[Kind, ...] = ("catalog", "queries", "labels")
_SECTION: dict[str, Callable[..., IngestReport]] = {
    "catalog": ingest_catalog_in,
    "queries": ingest_queries_in,
    "labels": ingest_labels_in,
}


def _ingest(
    engine: Engine, mapping: DatasetMapping, kinds: list[Kind], file: Path | None
) -> list[IngestReport]:
    """Ingest ``kinds`` (in pipeline order) in one transaction with one ledger row."""
    for kind in kinds:
        if getattr(mapping, kind) is None:
            raise MappingError(f"mapping '{mapping.name}' has no '{kind}' section")
    paths = {k: mapping.resolve(str(file) if file else None, k) for k in kinds}
    reports: list[IngestReport] = []
    with session_scope(engine) as session:
        for kind in kinds:
            session.flush()  # labels resolve the products and queries written just before
            reports.append(_SECTION[kind](session, paths[kind], getattr(mapping, kind), mapping))
        _record(session, mapping, reports)
    return reports


def _record(session: Session, mapping: DatasetMapping, reports: list[IngestReport]) -> None:
    counts: dict[str, Any] = {
        r.kind: {
            **{k: v for k, v in asdict(r).items() if isinstance(v, int)},
            **({"repaired": r.changes} if r.changes else {}),
        }
        for r in reports
    }
    files = {r.kind: r.path for r in reports}
    parameters = {"mapping": mapping.name, "files": files, "strict_text": mapping.strict_text}
    record_finished(session, Flow.INGEST, parameters, counts)


def ingest_catalog(
    engine: Engine, mapping: DatasetMapping, file: Path | None = None
) -> IngestReport:
    """Ingest products from ``file`` (default: the mapping's ``catalog.file``).

    Raises:
        IngestError: a bad row or file; nothing was written.
        MappingError: the mapping has no ``catalog`` section or names no file.
    """
    return _ingest(engine, mapping, ["catalog"], file)[0]


def ingest_queries(
    engine: Engine, mapping: DatasetMapping, file: Path | None = None
) -> IngestReport:
    """Ingest queries from ``file`` (default: the mapping's ``queries.file``).

    Raises:
        IngestError: a bad row or file; nothing was written.
        MappingError: the mapping has no ``queries`` section or names no file.
    """
    return _ingest(engine, mapping, ["queries"], file)[0]


def ingest_labels(
    engine: Engine, mapping: DatasetMapping, file: Path | None = None
) -> IngestReport:
    """Ingest human labels from ``file`` (default: the mapping's ``labels.file``).

    Every label must name a query and a product already in the store (ingest the catalog and
    queries first, or use :func:`ingest_dataset`).

    Raises:
        IngestError: a bad row or file; nothing was written.
        MappingError: the mapping has no ``labels`` section or names no file.
    """
    return _ingest(engine, mapping, ["labels"], file)[0]


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
    kinds = [k for k in KINDS if getattr(mapping, k) is not None]
    if not kinds:
        raise MappingError(f"mapping '{mapping.name}' has no catalog, queries or labels section")
    return _ingest(engine, mapping, kinds, file)
