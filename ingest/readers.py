"""Row readers for CSV (any declared encoding), JSONL and Parquet.

Each reader yields :class:`Row` objects (1-based data row number, the file line where the row
starts when the format has lines, and the row's values by column) and checks up front that the
columns a mapping needs are present. Every problem becomes an :class:`~core.errors.IngestError`
naming the file, row and column.

Text files are decoded with ``surrogateescape``: a byte the declared encoding cannot read
becomes a code point in U+DC80–U+DCFF rather than stopping the read, so that the field holding
it can be named, refused or read in the mapping's fallback encoding (:mod:`ingest.text`). A
header line that is not text in the declared encoding is refused at once.
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import IngestError
from ingest.mapping import FileFormat
from ingest.text import CONTROL, UNDECODED, undecoded_bytes

__all__ = ["Row", "detect_format", "read_rows"]

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # sizes are checked, with a clear error, later


@dataclass(frozen=True, slots=True)
class Row:
    number: int
    line: int | None
    values: dict[str, Any]


def detect_format(path: Path, declared: FileFormat | None) -> FileFormat:
    """The declared format, else the one the file's suffix implies."""
    if declared is not None:
        return declared
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes:
        return "parquet"
    if ".jsonl" in suffixes or ".ndjson" in suffixes:
        return "jsonl"
    if ".csv" in suffixes or ".tsv" in suffixes:
        return "csv"
    raise IngestError(
        str(path),
        "cannot tell the format from the suffix; set 'format: csv|jsonl|parquet' in the mapping",
    )


def read_rows(
    path: Path,
    fmt: FileFormat | None,
    columns: Sequence[str],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Iterator[Row]:
    """Yield the data rows of ``path``.

    Args:
        path: the input file.
        fmt: ``csv``, ``jsonl`` or ``parquet``; None to infer from the suffix.
        columns: the columns that must be present (checked against the header or schema,
            and per row for JSONL).
        encoding: the text encoding of CSV and JSONL files.
        delimiter: the CSV delimiter.

    Raises:
        IngestError: missing file or columns, undecodable bytes, malformed rows, no rows.
    """
    if not path.exists():
        raise IngestError(str(path), "file does not exist")
    if path.is_dir():
        raise IngestError(str(path), "is a directory; give the data file inside it")
    fmt = detect_format(path, fmt)
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise IngestError(
            str(path), f"unknown encoding {encoding!r} declared in the mapping"
        ) from exc
    if fmt == "csv":
        rows = _csv_rows(path, columns, encoding, delimiter)
    elif fmt == "jsonl":
        rows = _jsonl_rows(path, columns, encoding)
    else:
        rows = _parquet_rows(path, columns)
    count = 0
    try:
        for row in rows:
            count += 1
            yield row
    except OSError as exc:
        raise IngestError(str(path), f"cannot read the file: {exc.strerror or exc}") from exc
    if count == 0:
        raise IngestError(str(path), "the file has no data rows")


def _decode_error(path: Path, exc: UnicodeDecodeError, encoding: str) -> IngestError:
    # The text layer does not know where it failed; find the first bad line in the bytes.
    data = path.read_bytes()
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    for raw in data.splitlines(keepends=True):
        try:
            decoder.decode(raw)
        except UnicodeDecodeError as inner:
            bad = raw[inner.start : inner.end]
            return IngestError(
                str(path),
                f"bytes {bad!r} are not valid {encoding}; declare the file's encoding in the "
                "mapping (e.g. 'encoding: latin-1')",
                line=line,
            )
        line += 1
    return IngestError(str(path), f"not valid {encoding}: {exc.reason}")


def _check_header(path: Path, header: Sequence[str], encoding: str) -> None:
    """A header must be text: bytes the encoding cannot read, or control characters, mean the
    file is not text in that encoding (UTF-16, binary data)."""
    line = ",".join(header)
    found = UNDECODED.search(line)
    if found:
        bad = undecoded_bytes(line)
        raise IngestError(
            str(path),
            f"bytes {bad!r} are not valid {encoding}; declare the file's encoding in the mapping "
            "(e.g. 'encoding: latin-1')",
            line=1,
        )
    control = CONTROL.search(line)
    if control:
        raise IngestError(
            str(path),
            f"the header holds control character U+{ord(control.group()):04X}: this is not a "
            f"{encoding} text file",
            line=1,
        )


def _csv_rows(path: Path, columns: Sequence[str], encoding: str, delimiter: str) -> Iterator[Row]:
    with path.open(encoding=encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, None)
            if header is None:
                raise IngestError(str(path), "the file is empty (no header row)")
            if header and header[0].startswith("\ufeff"):
                header[0] = header[0][1:]
            _check_header(path, header, encoding)
            missing = [c for c in columns if c not in header]
            if missing:
                raise IngestError(
                    str(path),
                    f"missing column(s) {', '.join(map(repr, missing))}; the header has "
                    f"{', '.join(map(repr, header))}",
                    column=missing[0],
                )
            number = 0
            line = reader.line_num + 1
            for fields in reader:
                if not fields:  # a blank line
                    line = reader.line_num + 1
                    continue
                number += 1
                if len(fields) != len(header):
                    raise IngestError(
                        str(path),
                        f"the row has {len(fields)} fields, the header {len(header)}",
                        row=number,
                        line=line,
                    )
                yield Row(number, line, dict(zip(header, fields, strict=True)))
                line = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc, encoding) from exc
        except csv.Error as exc:
            raise IngestError(str(path), f"malformed CSV: {exc}", line=reader.line_num) from exc


def _jsonl_rows(path: Path, columns: Sequence[str], encoding: str) -> Iterator[Row]:
    with path.open(encoding=encoding, errors="surrogateescape") as handle:
        number = 0
        try:
            for line_no, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                number += 1
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise IngestError(
                        str(path), f"not valid JSON: {exc.msg}", row=number, line=line_no
                    ) from exc
                if not isinstance(value, dict):
                    raise IngestError(
                        str(path), "expected a JSON object per line", row=number, line=line_no
                    )
                bad_key = next((k for k in value if UNDECODED.search(str(k))), None)
                if bad_key is not None:
                    raise IngestError(
                        str(path),
                        f"bytes {undecoded_bytes(str(bad_key))!r} in a field name are not valid "
                        f"{encoding}; declare the file's encoding in the mapping",
                        row=number,
                        line=line_no,
                    )
                missing = [c for c in columns if c not in value]
                if missing:
                    raise IngestError(
                        str(path),
                        f"missing field(s) {', '.join(map(repr, missing))}; the row has "
                        f"{', '.join(map(repr, value))}",
                        row=number,
                        line=line_no,
                        column=missing[0],
                    )
                yield Row(number, line_no, value)
        except UnicodeDecodeError as exc:
            raise _decode_error(path, exc, encoding) from exc


def _parquet_rows(path: Path, columns: Sequence[str]) -> Iterator[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise IngestError(str(path), f"not a readable Parquet file: {exc}") from exc
    names = parquet.schema_arrow.names
    missing = [c for c in columns if c not in names]
    if missing:
        raise IngestError(
            str(path),
            f"missing column(s) {', '.join(map(repr, missing))}; the schema has "
            f"{', '.join(map(repr, names))}",
            column=missing[0],
        )
    number = 0
    for batch in parquet.iter_batches(batch_size=4096):
        for values in batch.to_pylist():
            number += 1
            yield Row(number, None, values)
