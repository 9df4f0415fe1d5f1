"""Malformed input files, one test each: one clear error, and the store exactly as before.

The files live in ``tests/data/bad_inputs/`` (``good-*`` is the data the store holds before
each case; ``mapping.yaml`` reads both). Every case runs on SQLite and on PostgreSQL against a
store that already holds that data; afterwards every table's rows are unchanged (a checksum of
each table, and on SQLite the database file's hash). Two cases are generated rather than
stored: a 10 MB field, and a directory given as the file. Three inputs are accepted on purpose
and say so: a UTF-8 byte-order mark is dropped, mixed line endings are read as line endings,
and spreadsheet formulas (CSV injection) are stored as the text they are — Dissent writes no
CSV, and its HTML reports escape what they print.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from core.errors import IngestError, MappingError
from ingest import ingest_catalog, ingest_dataset, ingest_labels, ingest_queries
from ingest.mapping import DatasetMapping, load_mapping
from store.schema import Base, Product

DATA = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
INGEST = {"catalog": ingest_catalog, "queries": ingest_queries, "labels": ingest_labels}
UTF8 = "are not valid utf-8; declare the file's encoding in the mapping"
FIELD = r", row 2 \(line 3\), column 'title': "
IN_SCALE = (
    r", row 2 \(line 3\), column 'label': label '{}' is not in the mapping's scale; expected a"
)

# file -> the error it must raise (a regular expression, after the file's name)
REFUSED: dict[str, str] = {
    "catalog-latin1.csv": rf", row 11 \(line 12\), column 'title': bytes b'\\xe9' {UTF8}",
    "catalog-mixed-encodings.csv": rf", row 2 \(line 3\), column 'title': bytes b'\\xe8' {UTF8}",
    "catalog-utf16.csv": rf", line 1: bytes b'\\xff\\xfe' {UTF8}",
    "catalog-binary.csv": r", line 1: the header holds control character U\+0000: this is not a "
    "utf-8 text file",
    "catalog-missing-column.csv": r", column 'brand': missing column\(s\) 'brand'; the header has",
    "catalog-renamed-column.csv": r", column 'title': missing column\(s\) 'title'; .*'Title'",
    "catalog-extra-fields.csv": r", row 2 \(line 3\): the row has 6 fields, the header 5",
    "catalog-unclosed-quote.csv": r", row 2 \(line 3\): the row has 2 fields, the header 5",
    "catalog-duplicate-id.csv": r", row 2 \(line 3\), column 'id': id 'P10' appeared at row 1",
    "catalog-empty-title.csv": FIELD + "the field is empty; a value is required",
    "catalog-long-id.csv": r", row 1 \(line 2\), column 'id': the field is 301 characters; the "
    "store holds 255 here",
    "catalog-empty.csv": r": the file is empty \(no header row\)",
    "catalog-header-only.csv": r": the file has no data rows",
    "catalog-nested-json.jsonl": r", row 2 \(line 2\), column 'title': expected text, got an object",
    "catalog-bool-title.jsonl": r", row 1 \(line 1\), column 'title': expected text, got a boolean",
    "catalog-truncated.jsonl": r", row 2 \(line 2\): not valid JSON",
    "queries-duplicate-id.csv": r", row 2 \(line 3\), column 'qid': query 'Q10' appeared at row 1",
    "queries-empty-text.csv": r", row 2 \(line 3\), column 'q': the field is empty",
    "queries-bad-frequency.csv": r", row 1 \(line 2\), column 'freq': expected an integer "
    "frequency, got 'forty'",
    "labels-blank-grade.csv": r", row 2 \(line 3\), column 'label': the field is empty",
    "labels-unknown-grade.csv": r", row 1 \(line 2\), column 'label': label 'X' is not in the "
    "mapping's scale; expected one of 'E', 'S', 'C', 'I'",
    "labels-nan-grade.csv": IN_SCALE.format("NaN"),
    "labels-inf-grade.csv": IN_SCALE.format("inf"),
    "labels-conflicting-duplicates.csv": r", row 2 \(line 3\), column 'label': pair \('Q2', "
    r"'P1'\) was labelled 'E' at row 1 and 'I' here",
    "labels-unknown-product.csv": r", row 1 \(line 2\), column 'pid': product 'P404' is not in "
    "the store; ingest the catalog first",
    "labels-unknown-query.csv": r", row 1 \(line 2\), column 'qid': query 'Q404' is not in the "
    "store; ingest the queries first",
}


def _mapping(name: str) -> DatasetMapping:
    numeric = "nan" in name or "inf" in name  # NaN and inf read against a numeric scale
    return load_mapping(DATA / ("mapping-numeric.yaml" if numeric else "mapping.yaml"))


def _snapshot(engine: Engine) -> dict[str, object]:
    """Each table's row count and a checksum of its rows; on SQLite the file's hash too."""
    found: dict[str, object] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
            found[table.name] = (len(rows), digest)
        if engine.dialect.name == "sqlite":
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            path = Path(str(engine.url.database))
            found["file"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture
def loaded(engine: Engine) -> Engine:
    """A store that holds the good data of ``tests/data/bad_inputs``."""
    ingest_dataset(engine, load_mapping(DATA / "mapping.yaml"))
    ingest_labels(engine, load_mapping(DATA / "mapping-numeric.yaml"))
    return engine


def _refused(engine: Engine, path: Path, mapping: DatasetMapping, expected: str) -> None:
    kind = path.name.split("-")[0]
    before = _snapshot(engine)
    with pytest.raises(IngestError, match=re.escape(str(path)) + expected) as raised:
        INGEST[kind](engine, mapping, path)
    assert "\n" not in str(raised.value), "one line"
    assert _snapshot(engine) == before, "the refused file changed the store"


def test_every_bad_input_file_has_a_case() -> None:
    files = {p.name for p in DATA.iterdir() if not p.name.startswith(("good-", "mapping"))}
    assert files == set(REFUSED) | set(ACCEPTED)
    assert len(REFUSED) + len(ACCEPTED) + len(MAPPINGS) + 2 >= 25


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_bad_input_file_is_refused_and_changes_nothing(loaded: Engine, name: str) -> None:
    _refused(loaded, DATA / name, _mapping(name), REFUSED[name])


def test_a_ten_megabyte_field_is_refused(loaded: Engine, tmp_path: Path) -> None:
    path = tmp_path / "catalog-huge-field.csv"
    path.write_text("id,title,brand,type,attrs\nP10,Acme,Acme,Widget,{}\n")
    with path.open("a") as handle:
        handle.write("P11," + "x" * 10_000_000 + ",Acme,Widget,{}\n")
    _refused(
        loaded,
        path,
        _mapping(path.name),
        r", row 2 \(line 3\), column 'title': the field is 10,000,000 characters; the limit",
    )


def test_a_directory_or_a_missing_file_is_refused(loaded: Engine, tmp_path: Path) -> None:
    directory = tmp_path / "catalog-dir.csv"
    directory.mkdir()
    _refused(loaded, directory, _mapping("x"), r": is a directory; give the data file inside it")
    _refused(loaded, tmp_path / "catalog-missing.csv", _mapping("x"), r": file does not exist")


MAPPINGS = {
    "mapping-unknown-key.yaml": r": unknown key 'catalgo'",
    "mapping-not-utf8.yaml": r" is not UTF-8 text \(byte 9\); save it as UTF-8",
}


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_a_bad_mapping_is_refused(name: str) -> None:
    with pytest.raises(MappingError, match=re.escape(str(DATA / name)) + MAPPINGS[name]):
        load_mapping(DATA / name)


# file -> {external id: title} of what it adds to the store
ACCEPTED: dict[str, dict[str, str]] = {
    "catalog-bom.csv": {"P10": "Acme widget"},
    "catalog-mixed-newlines.csv": {
        "P10": "Acme widget",
        "P11": "Acme gadget",
        "P12": "Acme gizmo",
    },
    "catalog-csv-injection.csv": {"P10": "Acme widget", "P11": "=cmd|' /C calc'!A0"},
    # free text: control characters become spaces (refused with strict_text, below)
    "catalog-nul.csv": {"P10": "Acme widget", "P11": "Acme gadget"},
    "catalog-control-chars.csv": {"P10": "Acme widget", "P11": "Acme  [31mgadget"},
}
# file -> the line the ingest report prints about what it repaired
REPAIRED = {
    "catalog-nul.csv": "title: 1 control character replaced by spaces (row 2)",
    "catalog-control-chars.csv": "title: 1 control character replaced by spaces (row 2)",
}
# accepted files that strict_text refuses, with the error
STRICT = {
    "catalog-nul.csv": FIELD + "control character U\\+0000 at character 5; text may hold tabs",
    "catalog-control-chars.csv": FIELD + "control character U\\+001B at character 6; text may",
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_inputs_accepted_on_purpose_store_exactly_their_text(loaded: Engine, name: str) -> None:
    report = ingest_catalog(loaded, _mapping(name), DATA / name)
    assert report.changes == ([REPAIRED[name]] if name in REPAIRED else [])
    with loaded.connect() as conn:
        stored = dict(conn.execute(select(Product.external_id, Product.title)).all())
    assert {k: stored.get(k) for k in ACCEPTED[name]} == ACCEPTED[name]
    if name == "catalog-csv-injection.csv":
        with loaded.connect() as conn:
            brand = conn.scalar(select(Product.brand).where(Product.external_id == "P11"))
        assert brand == "@SUM(1+1)"


@pytest.mark.parametrize("name", sorted(STRICT))
def test_strict_text_refuses_what_is_otherwise_repaired(loaded: Engine, name: str) -> None:
    strict = _mapping(name).model_copy(update={"strict_text": True})
    _refused(loaded, DATA / name, strict, STRICT[name])


@pytest.mark.parametrize(
    ("name", "titles"),
    [
        ("catalog-latin1.csv", {"P20": "Café chair"}),
        ("catalog-mixed-encodings.csv", {"P10": "Café chair", "P11": "Crème lamp"}),
    ],
)
def test_a_declared_fallback_reads_stray_bytes_and_says_so(
    loaded: Engine, name: str, titles: dict[str, str]
) -> None:
    mapping = _mapping(name)
    assert mapping.catalog is not None
    section = mapping.catalog.model_copy(update={"encoding_fallback": "cp1252"})
    report = ingest_catalog(loaded, mapping.model_copy(update={"catalog": section}), DATA / name)
    with loaded.connect() as conn:
        stored = dict(conn.execute(select(Product.external_id, Product.title)).all())
    assert {k: stored[k] for k in titles} == titles
    row = 11 if name == "catalog-latin1.csv" else 2
    assert report.changes == [f"title: 1 byte not valid utf-8 read as cp1252 (row {row})"]
