"""Text as real files bring it: what ingest repairs in free text, and how it reports it.

Readers decode CSV and JSONL with Python's ``surrogateescape``: a byte the declared encoding
cannot read becomes one code point in U+DC80–U+DCFF instead of stopping the read, so that the
field it sits in is known. Then, per field:

- **undecodable bytes** are read in the mapping's ``encoding_fallback`` when one is declared
  (``cp1252`` for code-page leftovers in a UTF-8 file), else refused with the row and column;
- **control characters** (C0 but tab, newline and carriage return, and DEL: NUL can't be
  stored by PostgreSQL and the rest is never product text) in *free text* — titles,
  descriptions, brands, product types, attribute values, query text — are replaced by a space;
  in identifiers and labels they are refused;
- **free text longer than its store column** (brand and product type hold 255 characters) is
  cut there; identifiers that long are refused. Titles and descriptions are kept whole (up to
  the mapping's ``max_field_chars``) and cut only where a model reads them.

Every change is counted per column, with the first rows it touched, in a :class:`TextFixes`
that the ingest report prints. A mapping with ``strict_text: true`` (or ``dissent ingest
--strict``) refuses control characters and overlong free text instead.

Example:
    >>> fixes = TextFixes()
    >>> for row in (4424, 6120, 8876):
    ...     fixes.add("description", CONTROL_REPLACED, row)
    >>> fixes.lines()
    ['description: 3 control characters replaced by spaces (rows 4424, 6120, 8876)']
    >>> fixes.add("brand", "value{s} cut to the store's 255 characters", 7)
    >>> fixes.lines()[1]
    "brand: 1 value cut to the store's 255 characters (row 7)"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONTROL",
    "CONTROL_REPLACED",
    "SHOWN_ROWS",
    "UNDECODED",
    "TextFixes",
    "cut_to",
    "decoded_in",
    "storable",
    "undecoded_bytes",
]

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
UNDECODED = re.compile("[\udc80-\udcff]+")
SHOWN_ROWS = 5

CONTROL_REPLACED = "control character{s} replaced by spaces"


@dataclass
class _Change:
    count: int = 0
    rows: list[int] = field(default_factory=list)


class TextFixes:
    """What an ingest changed in one file's text: counts per (column, kind of change), and the
    first :data:`SHOWN_ROWS` distinct rows of each."""

    def __init__(self) -> None:
        self._changes: dict[tuple[str, str], _Change] = {}

    def add(self, column: str, what: str, row: int, count: int = 1) -> None:
        """Count ``count`` changes of kind ``what`` in ``column`` at ``row``; ``what`` is a
        phrase whose ``{s}`` becomes the plural ending (``"value{s} cut"``)."""
        change = self._changes.setdefault((column, what), _Change())
        change.count += count
        if len(change.rows) < SHOWN_ROWS and row not in change.rows:
            change.rows.append(row)

    def __bool__(self) -> bool:
        return bool(self._changes)

    def as_dict(self) -> dict[str, dict[str, object]]:
        """``{"column: kind": {"count": n, "rows": [...]}}`` for reports and run rows."""
        return {
            f"{column}: {what.format(s='s')}": {"count": c.count, "rows": list(c.rows)}
            for (column, what), c in self._changes.items()
        }

    def lines(self) -> list[str]:
        """One line per column and kind: ``title: 3 control characters replaced by spaces
        (rows 4, 9, 12)``; past :data:`SHOWN_ROWS` rows, an ellipsis."""
        out = []
        for (column, what), change in self._changes.items():
            rows = ", ".join(map(str, change.rows))
            more = ", …" if change.count > len(change.rows) else ""
            label = "row" if len(change.rows) == 1 and not more else "rows"
            phrase = what.format(s="" if change.count == 1 else "s")
            out.append(f"{column}: {change.count:,} {phrase} ({label} {rows}{more})")
        return out


def undecoded_bytes(text: str) -> bytes:
    """The bytes behind the first run of surrogate escapes in ``text`` (empty: none)."""
    found = UNDECODED.search(text)
    return bytes(ord(c) - 0xDC00 for c in found.group()) if found else b""


def decoded_in(text: str, fallback: str) -> tuple[str, int]:
    """``text`` with every run of surrogate escapes read in ``fallback``, and how many bytes
    were so read.

    Raises:
        UnicodeDecodeError: the fallback cannot read them either.

    Example:
        >>> decoded_in("Caf\\udce9 chair", "cp1252")
        ('Café chair', 1)
    """
    count = 0

    def read(match: re.Match[str]) -> str:
        nonlocal count
        raw = bytes(ord(c) - 0xDC00 for c in match.group())
        count += len(raw)
        return raw.decode(fallback)

    return UNDECODED.sub(read, text), count


def cut_to(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at the last space when one is near.

    Example:
        >>> cut_to("Simpson Strong-Tie Company Incorporated", 20)
        'Simpson Strong-Tie'
    """
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space >= limit * 0.75 else head).rstrip()


def storable(value: Any, fallback: str | None) -> Any:
    r"""A raw value as both stores can keep it: undecodable bytes read in ``fallback`` (where
    none is declared the field was refused before), NUL as U+FFFD (PostgreSQL stores no NUL),
    lists and objects item by item; everything else as it is.

    Example:
        >>> storable({"title": "Acme\x00gadget", "n": [1, "x\x1b"]}, None)
        {'title': 'Acme\ufffdgadget', 'n': [1, 'x\x1b']}
    """
    if isinstance(value, str):
        if fallback is not None and UNDECODED.search(value):
            value = decoded_in(value, fallback)[0]
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {storable(k, fallback): storable(v, fallback) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, fallback) for v in value]
    return value
