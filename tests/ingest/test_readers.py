"""Row readers: CSV (declared encoding, delimiter), JSONL and Parquet; errors name file/row/column."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import IngestError
from ingest.readers import Row, detect_format, read_rows

# ---------------------------------------------------------------------------------- CSV


def test_csv_with_a_declared_encoding_and_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes(
        "id;title;grade\n1;Caf\xe9 table;3\n2;Cr\xe8me br\xfbl\xe9e torch;1\n".encode("latin-1")
    )
    rows = list(read_rows(path, "csv", ["id", "title"], encoding="latin-1", delimiter=";"))
    assert rows == [
        Row(1, 2, {"id": "1", "title": "Café table", "grade": "3"}),
        Row(2, 3, {"id": "2", "title": "Crème brûlée torch", "grade": "1"}),
    ]


def test_csv_bytes_that_are_not_the_declared_encoding(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes("id,title\n1,plain\n2,Caf\xe9\n".encode("latin-1"))
    # \xe9 on line 3 is not UTF-8: the reader keeps it as an escape; the field reader names it
    rows = list(read_rows(path, "csv", ["id"]))
    assert rows[1].values["title"] == "Caf\udce9" and rows[1].line == 3
    # in the header, it is refused at once: the columns cannot be known
    path.write_bytes("id,t\xeftle\n1,plain\n".encode("latin-1"))
    with pytest.raises(IngestError) as info:
        list(read_rows(path, "csv", ["id"]))
    assert info.value.line == 1
    assert "b'\\xef' are not valid utf-8" in info.value.reason
    assert "encoding: latin-1" in info.value.reason


def test_csv_row_and_line_numbers_skip_blank_lines_and_span_quoted_newlines(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    # line 1 header; row 1 spans lines 2-3; line 4 blank; row 2 on line 5
    path.write_text('id,title\n1,"two\nlines"\n\n2,plain\n', encoding="utf-8")
    rows = list(read_rows(path, None, ["id", "title"]))
    assert rows == [
        Row(1, 2, {"id": "1", "title": "two\nlines"}),
        Row(2, 5, {"id": "2", "title": "plain"}),
    ]


def test_csv_strips_a_byte_order_mark_from_the_header(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,title\n7,x\n".encode())
    assert list(read_rows(path, "csv", ["id"])) == [Row(1, 2, {"id": "7", "title": "x"})]


def test_csv_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        list(read_rows(path, "csv", ["id", "title", "grade"]))
    err = info.value
    assert err.column == "title"  # the first missing one
    assert err.row is None
    assert err.reason == "missing column(s) 'title', 'grade'; the header has 'id', 'name'"
    assert str(err) == f"{path}, column 'title': {err.reason}"


def test_csv_row_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    rows = read_rows(path, "csv", ["a"])
    assert next(rows) == Row(1, 2, {"a": "1", "b": "2"})
    with pytest.raises(IngestError) as info:
        next(rows)
    assert (info.value.row, info.value.line) == (2, 3)
    assert info.value.reason == "the row has 3 fields, the header 2"
    assert str(info.value) == f"{path}, row 2 (line 3): the row has 3 fields, the header 2"


def test_csv_empty_file_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(IngestError, match=r"the file is empty \(no header row\)"):
        list(read_rows(empty, "csv", []))
    header = tmp_path / "header.csv"
    header.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(IngestError, match="the file has no data rows"):
        list(read_rows(header, "csv", ["a"]))


# -------------------------------------------------------------------------------- JSONL


def test_jsonl_rows_keep_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "products.jsonl"
    path.write_text(
        '{"id": "p1", "attributes": {"length": "50 ft"}}\n\n{"id": "p2", "attributes": {}}\n',
        encoding="utf-8",
    )
    assert list(read_rows(path, None, ["id"])) == [
        Row(1, 1, {"id": "p1", "attributes": {"length": "50 ft"}}),
        Row(2, 3, {"id": "p2", "attributes": {}}),
    ]


def test_jsonl_missing_field_names_row_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "products.jsonl"
    path.write_text('{"id": "p1", "title": "a"}\n\n{"id": "p2"}\n', encoding="utf-8")
    with pytest.raises(IngestError) as info:
        list(read_rows(path, "jsonl", ["id", "title"]))
    err = info.value
    assert (err.row, err.line, err.column) == (2, 3, "title")
    assert err.reason == "missing field(s) 'title'; the row has 'id'"


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1}\n{"id": \n', encoding="utf-8")
    with pytest.raises(IngestError, match="not valid JSON") as info:
        list(read_rows(broken, "jsonl", ["id"]))
    assert (info.value.row, info.value.line) == (2, 2)
    array = tmp_path / "array.jsonl"
    array.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(IngestError, match="expected a JSON object per line") as info:
        list(read_rows(array, "jsonl", []))
    assert (info.value.row, info.value.line) == (1, 1)


def test_jsonl_in_a_declared_encoding(tmp_path: Path) -> None:
    path = tmp_path / "latin.ndjson"
    path.write_bytes('{"title": "Caf\xe9"}\n'.encode("latin-1"))
    assert list(read_rows(path, None, ["title"], encoding="latin-1")) == [
        Row(1, 1, {"title": "Café"})
    ]


# ------------------------------------------------------------------------------ Parquet


def test_parquet_rows_have_no_line_numbers(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "products.parquet"
    pq.write_table(
        pa.table({"id": ["p1", "p2", "p3"], "price": [9.5, None, 3.0], "stock": [1, 2, 3]}), path
    )
    assert list(read_rows(path, None, ["id", "price"])) == [
        Row(1, None, {"id": "p1", "price": 9.5, "stock": 1}),
        Row(2, None, {"id": "p2", "price": None, "stock": 2}),
        Row(3, None, {"id": "p3", "price": 3.0, "stock": 3}),
    ]


def test_parquet_missing_column_is_named(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "products.parquet"
    pq.write_table(pa.table({"id": ["p1"]}), path)
    with pytest.raises(IngestError) as info:
        list(read_rows(path, "parquet", ["id", "title"]))
    assert info.value.column == "title"
    assert info.value.reason == "missing column(s) 'title'; the schema has 'id'"


def test_a_file_that_is_not_parquet(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text("id,title\n", encoding="utf-8")
    with pytest.raises(IngestError, match="not a readable Parquet file"):
        list(read_rows(path, None, []))


# ------------------------------------------------------------------------ file and format


def test_missing_file_and_unknown_encoding(tmp_path: Path) -> None:
    with pytest.raises(IngestError) as info:
        list(read_rows(tmp_path / "nope.csv", None, []))
    assert info.value.reason == "file does not exist"
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(IngestError) as info:
        list(read_rows(path, None, [], encoding="klingon-8"))
    assert info.value.reason == "unknown encoding 'klingon-8' declared in the mapping"


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("products.parquet", "parquet"),
        ("products.PARQUET", "parquet"),
        ("products.jsonl", "jsonl"),
        ("products.ndjson", "jsonl"),
        ("labels.csv", "csv"),
        ("labels.tsv", "csv"),
        ("labels.csv.gz", "csv"),
    ],
)
def test_detect_format_from_the_suffix(name: str, fmt: str) -> None:
    assert detect_format(Path(name), None) == fmt


def test_a_declared_format_wins_over_the_suffix() -> None:
    assert detect_format(Path("export.txt"), "jsonl") == "jsonl"
    assert detect_format(Path("labels.csv"), "parquet") == "parquet"


def test_an_unknown_suffix_asks_for_a_format() -> None:
    with pytest.raises(IngestError) as info:
        detect_format(Path("data/labels.txt"), None)
    assert info.value.path == "data/labels.txt"
    assert "set 'format: csv|jsonl|parquet' in the mapping" in info.value.reason
