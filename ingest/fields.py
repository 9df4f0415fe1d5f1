"""What every ingest section shares: its report, chunking, and typed field reading.

:class:`Fields` reads one file's rows into typed values and raises
:class:`~core.errors.IngestError` naming file, row, line and column for anything unexpected.

What a field accepts, the same on SQLite and PostgreSQL: text, and numbers (written as their
decimal text: ids and rater means are often numbers; ``123.0`` becomes ``123``). It refuses
booleans, lists and objects (except in the attributes column), bytes, dates and timestamps,
and anything longer than the mapping's ``max_field_chars``. Two kinds of text:

- **identifiers and labels** (:meth:`Fields.text`: ids, raw labels, frequencies) are
  structure: a control character or a value longer than the store's column (ids: 255
  characters; a raw label: 64) is refused;
- **free text** (:meth:`Fields.free_text`: titles, descriptions, brands, product types,
  attribute values, query text) is repaired and reported as :mod:`ingest.text` says: control
  characters become spaces, a brand or product type longer than its 255 characters is cut, and
  bytes the declared encoding cannot read are read in the mapping's ``encoding_fallback``;
  with ``strict_text`` the first two are refused instead.
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
from ingest.mapping import DatasetMapping, FileSection
from ingest.readers import Row
from ingest.text import (
    CONTROL,
    CONTROL_REPLACED,
    UNDECODED,
    TextFixes,
    cut_to,
    decoded_in,
    undecoded_bytes,
)

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
    changes: list[str] = field(default_factory=list)  # what was repaired in the text

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
    """Reads typed fields out of rows of one file, with errors that name row and column.

    Args:
        path: the file (for messages).
        max_chars: the longest field accepted (the mapping's ``max_field_chars``).
        encoding: the file's declared encoding (for messages).
        fallback: the encoding undecodable bytes are read in (None: they are refused).
        strict: refuse control characters and overlong free text instead of repairing them.
    """

    def __init__(
        self,
        path: Path,
        max_chars: int,
        *,
        encoding: str = "utf-8",
        fallback: str | None = None,
        strict: bool = False,
    ) -> None:
        self.path = str(path)
        self.max_chars = max_chars
        self.encoding = encoding
        self.fallback = fallback
        self.strict = strict
        self.fixes = TextFixes()

    @classmethod
    def of(cls, path: Path, section: FileSection, mapping: DatasetMapping) -> Fields:
        """The fields of ``path``, read as the mapping's ``section`` declares."""
        return cls(
            path,
            mapping.max_field_chars,
            encoding=section.encoding,
            fallback=section.encoding_fallback,
            strict=mapping.strict_text,
        )

    def error(self, row: Row, column: str | None, message: str) -> IngestError:
        return IngestError(self.path, message, row=row.number, line=row.line, column=column)

    def text(
        self, row: Row, column: str | None, *, required: bool = False, limit: int | None = None
    ) -> str | None:
        """An identifier or label as stripped text (None when empty): control characters and
        values longer than ``limit`` (the store column's length) are refused."""
        if column is None:
            return None
        text = self._decoded(row, column, self._raw(row, column)).strip()
        self._check_characters(row, column, text, _IDENTIFIERS)
        self._check_size(row, column, text, limit)
        return self._present(row, column, text, required)

    def free_text(
        self, row: Row, column: str | None, *, required: bool = False, limit: int | None = None
    ) -> str | None:
        """Free text as stripped text (None when empty), repaired as the module docstring
        says; ``limit``: the store column's length, where it has one."""
        if column is None:
            return None
        text = self._cleaned(row, column, self._raw(row, column))
        if limit is not None and len(text) > limit and not self.strict:
            self._check_size(row, column, text, None)
            self.fixes.add(column, f"value{{s}} cut to the store's {limit} characters", row.number)
            text = cut_to(text, limit)
        self._check_size(row, column, text, limit)
        return self._present(row, column, text, required)

    def _raw(self, row: Row, column: str) -> str:
        value = row.values.get(column)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(row, column, f"expected text, got {_kind(value)}")
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value)

    def _decoded(self, row: Row, column: str, text: str) -> str:
        """``text`` with the bytes its encoding could not read read in the fallback."""
        if UNDECODED.search(text) is None:
            return text
        bad = undecoded_bytes(text)
        if self.fallback is None:
            raise self.error(
                row,
                column,
                f"bytes {bad!r} are not valid {self.encoding}; declare the file's encoding in "
                "the mapping (e.g. 'encoding: latin-1'), or a fallback for stray bytes "
                "('encoding_fallback: cp1252')",
            )
        try:
            text, count = decoded_in(text, self.fallback)
        except UnicodeDecodeError as exc:
            raise self.error(
                row,
                column,
                f"bytes {bad!r} are valid neither in {self.encoding} nor in the fallback "
                f"{self.fallback}",
            ) from exc
        what = f"byte{{s}} not valid {self.encoding} read as {self.fallback}"
        self.fixes.add(column, what, row.number, count)
        return text

    def _cleaned(self, row: Row, column: str, text: str) -> str:
        """Free text decoded, its control characters replaced (unless strict), stripped."""
        if _QUIRK.search(text) is None:  # the common case: one pass over clean text
            return text.strip()
        text = self._decoded(row, column, text)
        if self.strict:
            text = text.strip()
            self._check_characters(row, column, text, _STRICT)
            return text
        text, count = CONTROL.subn(" ", text)
        if count:
            self.fixes.add(column, CONTROL_REPLACED, row.number, count)
        return text.strip()

    def _check_size(self, row: Row, column: str, text: str, limit: int | None) -> None:
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

    def _present(self, row: Row, column: str, text: str, required: bool) -> str | None:
        if not text:
            if required:
                raise self.error(row, column, "the field is empty; a value is required")
            return None
        return text

    def attributes(self, row: Row, spec: str | list[str] | None) -> dict[str, str]:
        """The product's attributes: a JSON object in one column, or one column each; keys and
        values are free text."""
        if spec is None:
            return {}
        if isinstance(spec, list):
            found: dict[str, str] = {}
            for column in spec:
                value = self.free_text(row, column)
                if value is not None:
                    found[column] = value
            return found
        value = row.values.get(spec)
        if isinstance(value, str):
            if not value.strip():
                return {}
            self._check_size(row, spec, value, None)
            try:
                value = json.loads(self._decoded(row, spec, value))
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
            name = CONTROL.sub(" ", self._decoded(row, spec, str(key)))  # names keep their spaces
            out[name] = self._cleaned(row, spec, text)
        return out

    def _check_characters(self, row: Row, column: str, text: str, rule: str) -> None:
        found = CONTROL.search(text)
        if found:
            raise self.error(
                row,
                column,
                f"control character U+{ord(found.group()):04X} at character {found.start() + 1}; "
                + rule,
            )


_QUIRK = re.compile(f"{CONTROL.pattern}|{UNDECODED.pattern}")
_IDENTIFIERS = "identifiers and labels may hold no control characters"
_STRICT = "text may hold tabs and newlines but no NUL or other control characters (strict_text)"

# The store's column lengths (store/schema.py): ids, brand and product type; a raw label.
ID_CHARS = NAME_CHARS = 255
RAW_LABEL_CHARS = 64


def _kind(value: Any) -> str:
    names = {bool: "a boolean", list: "a list", dict: "an object", bytes: "binary data"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__} value"
