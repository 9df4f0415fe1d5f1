"""What both stores refuse alike: types, control characters in identifiers, column lengths.

Each case runs on SQLite and on PostgreSQL (the ``engine`` fixture): the same one-line error,
naming file, row and column, and nothing written. Before these checks PostgreSQL refused some
of them with a traceback and SQLite stored them silently.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import Engine, select

from core.errors import IngestError
from ingest import ingest_catalog, ingest_dataset, ingest_queries
from ingest.mapping import load_mapping
from store.schema import Product
from tests.ingest.test_dataset import (
    CATALOG,
    LABELS,
    QUERIES,
    assert_nothing_written,
    make_mapping,
    mapping_dict,
    write_csv,
)


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "expected text, got a boolean"),
        (["a", "b"], "expected text, got a list"),
        ({"x": 1}, "expected text, got an object"),
    ],
)
def test_a_title_that_is_not_text_is_refused(
    engine: Engine, tmp_path: Path, value: Any, expected: str
) -> None:
    path = _jsonl(tmp_path / "catalog.jsonl", [CATALOG[0], {**CATALOG[1], "title": value}])
    with pytest.raises(IngestError, match=rf"catalog\.jsonl, row 2.*column 'title': {expected}"):
        ingest_catalog(engine, make_mapping(tmp_path), path)
    assert_nothing_written(engine)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (pa.array([datetime.datetime(2026, 1, 1)] * 3), "a datetime value"),
        (pa.array([b"\x00\x01", b"x", b"y"]), "binary data"),
    ],
)
def test_parquet_timestamps_and_binary_where_text_belongs_are_refused(
    engine: Engine, tmp_path: Path, column: pa.Array, expected: str
) -> None:
    table = pa.Table.from_pylist(QUERIES).set_column(1, "q", column)
    pq.write_table(table, tmp_path / "queries.parquet")
    with pytest.raises(IngestError, match=rf"row 1.*column 'q': expected text, got {expected}"):
        ingest_queries(engine, make_mapping(tmp_path), tmp_path / "queries.parquet")
    assert_nothing_written(engine)


def _second_product_refused(
    engine: Engine, tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    """A catalog whose second product has ``change`` is refused at row 2 with ``message``."""
    write_csv(tmp_path / "catalog.csv", [CATALOG[0], {**CATALOG[1], **change}])
    with pytest.raises(IngestError, match=r"row 2 \(line 3\), " + message):
        ingest_catalog(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


@pytest.mark.parametrize(("char", "code"), [("\x00", "0000"), ("\x1b", "001B"), ("\x7f", "007F")])
def test_nul_and_control_characters_in_an_id_are_refused(
    engine: Engine, tmp_path: Path, char: str, code: str
) -> None:
    message = rf"column 'id': control character U\+{code} at character 2; identifiers and labels"
    _second_product_refused(engine, tmp_path, {"id": f"P{char}2"}, message)


@pytest.mark.parametrize(("char", "code"), [("\x00", "0000"), ("\x1b", "001B"), ("\x7f", "007F")])
def test_strict_text_refuses_control_characters_in_free_text(
    engine: Engine, tmp_path: Path, char: str, code: str
) -> None:
    write_csv(tmp_path / "catalog.csv", [CATALOG[0], {**CATALOG[1], "title": f"Faucet{char}x"}])
    mapping = make_mapping(tmp_path, strict_text=True)
    with pytest.raises(
        IngestError, match=rf"row 2 \(line 3\), column 'title': control character U\+{code} at"
    ):
        ingest_catalog(engine, mapping)
    assert_nothing_written(engine)


def test_tabs_and_newlines_in_text_are_kept(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", [{**CATALOG[0], "title": "Drill\tkit\nwith case"}])
    assert ingest_catalog(engine, make_mapping(tmp_path)).inserted == 1
    with engine.connect() as conn:
        assert conn.execute(select(Product.title)).scalar() == "Drill\tkit\nwith case"


def test_an_id_longer_than_its_column_is_refused(engine: Engine, tmp_path: Path) -> None:
    message = r"column 'id': the field is 300 characters; the store holds 255 here"
    _second_product_refused(engine, tmp_path, {"id": "x" * 300}, message)


@pytest.mark.parametrize("field", ["brand", "type"])
def test_strict_text_refuses_a_brand_or_type_longer_than_its_column(
    engine: Engine, tmp_path: Path, field: str
) -> None:
    write_csv(tmp_path / "catalog.csv", [CATALOG[0], {**CATALOG[1], field: "x" * 300}])
    with pytest.raises(
        IngestError, match=rf"column '{field}': the field is 300 characters; the store holds 255"
    ):
        ingest_catalog(engine, make_mapping(tmp_path, strict_text=True))
    assert_nothing_written(engine)


def test_a_raw_label_longer_than_its_column_is_refused(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", CATALOG)
    write_csv(tmp_path / "queries.csv", QUERIES)
    write_csv(tmp_path / "labels.csv", [*LABELS, {"qid": "Q2", "pid": "P1", "label": "E" * 65}])
    with pytest.raises(
        IngestError,
        match=r"labels\.csv, row 5 \(line 6\), column 'label': the field is 65 characters; the store holds 64",
    ):
        ingest_dataset(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


def test_query_text_that_serves_as_its_id_must_fit_the_id_column(
    engine: Engine, tmp_path: Path
) -> None:
    mapping = mapping_dict()
    mapping["queries"]["columns"] = {"text": "q"}  # no id column: the text is the id
    write_csv(tmp_path / "queries.csv", [QUERIES[0], {**QUERIES[1], "q": "faucet " * 40}])
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping))
    with pytest.raises(
        IngestError,
        match=r"row 2 \(line 3\), column 'q': the field is 279 characters; the store holds 255 "
        r"here \(the query's text is its id",
    ):
        ingest_queries(engine, load_mapping(tmp_path / "m.yaml"))
    assert_nothing_written(engine)


def test_numbers_where_text_belongs_become_their_decimal_text(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [{**CATALOG[0], "id": 100001}, {**CATALOG[1], "id": 100002.0, "brand": 3.5}]
    path = _jsonl(tmp_path / "catalog.jsonl", rows)
    assert ingest_catalog(engine, make_mapping(tmp_path), path).inserted == 2
    with engine.connect() as conn:
        found = conn.execute(select(Product.external_id, Product.brand).order_by(Product.id)).all()
    assert [tuple(r) for r in found] == [("100001", "DEWALT"), ("100002", "3.5")]
