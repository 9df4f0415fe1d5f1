"""What every ingest section shares: its report, chunking, and typed field reading.

:class:`Fields` reads one file's rows into typed values and raises
:class:`~core.errors.IngestError` naming file, row, line and column for anything unexpected.

What a text field accepts, the same on SQLite and PostgreSQL: text, and numbers (written as
their decimal text: ids and rater means are often numbers; ``123.0`` becomes ``123``). It
refuses booleans, lists and objects (except in the attributes column), bytes, dates and
timestamps; NUL and other control characters (tab and newlines excepted); and text longer
than the store's column holds (ids, brand and product type: 255 characters; a raw label: 64)
or than the mapping's ``max_field_chars``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from core.errors import IngestError
from ingest.readers import Row

__all__ = [
    "CHUNK",
    "ID_CHARS",
    "NAME_CHARS",
    "RAW_LABEL_CHARS",
    "Fields",
    "IngestReport",
    "chunks",
    "normalize_query",
]

CHUNK = 1000
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


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Fields:
    """Reads typed fields out of rows of one file, with errors that name row and column."""

    def __init__(self, path: Path, max_chars: int) -> None:
        self.path = str(path)
        self.max_chars = max_chars

    def error(self, row: Row, column: str | None, message: str) -> IngestError:
        return IngestError(self.path, message, row=row.number, line=row.line, column=column)

    def text(
        self, row: Row, column: str | None, *, required: bool = False, limit: int | None = None
    ) -> str | None:
        """The column's value as stripped text (None when empty); ``limit``: the store column's
        length, where it has one (see the module docstring for what is refused)."""
        if column is None:
            return None
        value = row.values.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            text = ""
        elif isinstance(value, str):
            text = value
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(row, column, f"expected text, got {_kind(value)}")
        elif isinstance(value, float) and value.is_integer():
            text = str(int(value))
        else:
            text = str(value)
        text = text.strip()
        self._check_characters(row, column, text)
        if len(text) > self.max_chars:
            raise self.error(
                row,
                column,
                f"the field is {len(text):,} characters; the limit is {self.max_chars:,} "
                "(raise max_field_chars in the mapping if this is real data)",
            )
        if limit is not None and len(text) > limit:
            raise self.error(
                row, column, f"the field is {len(text):,} characters; the store holds {limit} here"
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
            self._check_characters(row, spec, text)
            out[str(key)] = text.strip()
        return out

    def _check_characters(self, row: Row, column: str, text: str) -> None:
        found = _CONTROL.search(text)
        if found:
            raise self.error(
                row,
                column,
                f"control character U+{ord(found.group()):04X} at character {found.start() + 1}; "
                "text may hold tabs and newlines but no NUL or other control characters",
            )


# C0 controls but tab, newline and carriage return, and DEL: PostgreSQL cannot store NUL, and
# the others are never product text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

# The store's column lengths (store/schema.py): ids, brand and product type; a raw label.
ID_CHARS = NAME_CHARS = 255
RAW_LABEL_CHARS = 64


def _kind(value: Any) -> str:
    names = {bool: "a boolean", list: "a list", dict: "an object", bytes: "binary data"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__} value"
