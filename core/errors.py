"""One exception tree for the whole service.

Every error a user can cause derives from :class:`DissentError`; its message says what was
received, what is allowed and how to fix it. The CLI prints such errors as one line and
exits with status 1. Third-party errors are translated into these at the boundary where
they occur (a backend, the store, an ingest reader), never leaked to the user.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DissentError",
    "IngestError",
    "MappingError",
    "StoreError",
]


class DissentError(Exception):
    """Base class of every error Dissent raises on purpose."""


class ConfigError(DissentError):
    """The pipeline configuration (file or ``DISSENT_*`` environment) is invalid."""


class MappingError(DissentError):
    """An ingest mapping file is invalid (unknown key, missing section, bad scale)."""


class StoreError(DissentError):
    """The database cannot be reached, migrated or used as asked."""


class IngestError(DissentError):
    """An input file is bad. Nothing from the file was written.

    Attributes:
        path: the file.
        row: 1-based data row (the header is not counted), when the problem is in one row.
        column: the column or field concerned, when there is one.
        line: the 1-based line of the file where the row starts (CSV and JSONL), if known.
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = path
        self.row = row
        self.column = column
        self.line = line
        self.reason = message
        where = [path]
        if row is not None:
            where.append(f"row {row}" + (f" (line {line})" if line is not None else ""))
        elif line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}")
