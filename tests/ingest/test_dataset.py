"""Ingest: the happy paths on every format, idempotence, and one test per kind of bad input.

Every bad-input test checks both the message (file, row, column, what was expected) and that
nothing from the file reached the store.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sqlalchemy import Engine, select

from core.errors import IngestError, MappingError
from ingest import ingest_catalog, ingest_dataset, ingest_labels, ingest_queries
from ingest.mapping import DatasetMapping, load_mapping
from store.ledger import Flow, latest_run, table_counts
from store.schema import HumanLabel, Product, Query, Run

CATALOG = [
    {
        "id": "P1",
        "title": "DEWALT 20V MAX Cordless Drill",
        "brand": "DEWALT",
        "type": "Cordless Drill",
        "attrs": json.dumps({"voltage": "20V"}),
    },
    {
        "id": "P2",
        "title": "Glacier Bay Chrome Faucet",
        "brand": "Glacier Bay",
        "type": "Faucet",
        "attrs": "",
    },
    {"id": "P3", "title": "Café Bistro Mug", "brand": "Unbranded", "type": "Mug", "attrs": "{}"},
]
QUERIES = [
    {"qid": "Q1", "q": "cordless drill", "freq": "5000"},
    {"qid": "Q2", "q": "kitchen faucet", "freq": "300"},
    {"qid": "Q3", "q": "cafe mug", "freq": "2"},
]
LABELS = [
    {"qid": "Q1", "pid": "P1", "label": "E"},
    {"qid": "Q1", "pid": "P2", "label": "I"},
    {"qid": "Q2", "pid": "P2", "label": "S"},
    {"qid": "Q3", "pid": "P3", "label": "C"},
]


def write_csv(path: Path, rows: list[dict[str, Any]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def mapping_dict(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "unit",
        "catalog": {
            "file": "catalog.csv",
            "columns": {
                "external_id": "id",
                "title": "title",
                "brand": "brand",
                "product_type": "type",
                "attributes": "attrs",
            },
        },
        "queries": {
            "file": "queries.csv",
            "columns": {"external_id": "qid", "text": "q", "frequency": "freq"},
            "head_min_frequency": 1000,
            "tail_max_frequency": 10,
        },
        "labels": {
            "file": "labels.csv",
            "columns": {"query": "qid", "product": "pid", "label": "label"},
            "scale": {"kind": "values", "values": {"E": 3, "S": 2, "C": 1, "I": 0}},
        },
    }
    for key, value in overrides.items():
        base[key] = value
    return base


def make_mapping(tmp_path: Path, **overrides: Any) -> DatasetMapping:
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(mapping_dict(**overrides), sort_keys=False))
    return load_mapping(path)


@pytest.fixture
def dataset(tmp_path: Path) -> DatasetMapping:
    write_csv(tmp_path / "catalog.csv", CATALOG)
    write_csv(tmp_path / "queries.csv", QUERIES)
    write_csv(tmp_path / "labels.csv", LABELS)
    return make_mapping(tmp_path)


def counts(engine: Engine) -> dict[str, int]:
    found = table_counts(engine)
    return {k: found[k] for k in ("products", "queries", "human_labels", "runs")}


EMPTY = {"products": 0, "queries": 0, "human_labels": 0, "runs": 0}


# ------------------------------------------------------------------------- happy paths


def test_ingest_dataset_writes_products_queries_and_labels(
    engine: Engine, dataset: DatasetMapping
) -> None:
    reports = ingest_dataset(engine, dataset)
    assert [r.inserted for r in reports] == [3, 3, 4]
    assert counts(engine) == {"products": 3, "queries": 3, "human_labels": 4, "runs": 1}
    run = latest_run(engine, Flow.INGEST)  # one ledger row for the whole dataset
    assert run is not None and set(run.counts) == {"catalog", "queries", "labels"}
    assert run.counts["labels"]["inserted"] == 4
    with engine.connect() as conn:
        drill = conn.execute(select(Product).where(Product.external_id == "P1")).one()
        assert drill.attributes == {"voltage": "20V"}
        assert drill.brand == "DEWALT" and drill.product_type == "Cordless Drill"
        assert drill.raw["title"] == "DEWALT 20V MAX Cordless Drill"
        assert len(drill.content_hash) == 64
        assert (
            conn.execute(select(Product.title).where(Product.external_id == "P3")).scalar()
            == "Café Bistro Mug"
        )
        segments = dict(conn.execute(select(Query.external_id, Query.segment)).all())
        assert segments == {"Q1": "head", "Q2": "torso", "Q3": "tail"}
        labels = conn.execute(
            select(HumanLabel.grade, HumanLabel.raw_label, HumanLabel.source)
        ).all()
        assert sorted(labels) == [
            (0, "I", "unit"),
            (1, "C", "unit"),
            (2, "S", "unit"),
            (3, "E", "unit"),
        ]
        assert {r.status for r in conn.execute(select(Run))} == {"succeeded"}


def test_reingesting_the_same_files_changes_nothing(
    engine: Engine, dataset: DatasetMapping
) -> None:
    ingest_dataset(engine, dataset)
    with engine.connect() as conn:
        before = conn.execute(select(Product.id, Product.content_hash, Product.updated_at)).all()
    reports = ingest_dataset(engine, dataset)
    assert [(r.inserted, r.updated, r.unchanged) for r in reports] == [
        (0, 0, 3),
        (0, 0, 3),
        (0, 0, 4),
    ]
    with engine.connect() as conn:
        assert (
            conn.execute(select(Product.id, Product.content_hash, Product.updated_at)).all()
            == before
        )


def test_a_changed_product_gets_a_new_hash(
    engine: Engine, dataset: DatasetMapping, tmp_path: Path
) -> None:
    ingest_catalog(engine, dataset)
    with engine.connect() as conn:
        old = conn.execute(
            select(Product.id, Product.content_hash).where(Product.external_id == "P2")
        ).one()
    changed = [dict(row) for row in CATALOG]
    changed[1]["title"] = "Glacier Bay Brushed Nickel Faucet"
    write_csv(tmp_path / "catalog.csv", changed)
    report = ingest_catalog(engine, dataset)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 2)
    with engine.connect() as conn:
        new = conn.execute(
            select(Product.id, Product.content_hash).where(Product.external_id == "P2")
        ).one()
    assert new.id == old.id and new.content_hash != old.content_hash


def test_repeated_rows_with_identical_content_are_read_once(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", [*CATALOG, CATALOG[0]])
    report = ingest_catalog(engine, make_mapping(tmp_path))
    assert (report.rows, report.inserted, report.repeated) == (4, 3, 1)


def test_latin1_csv(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", CATALOG, encoding="latin-1")
    mapping = mapping_dict()
    mapping["catalog"]["encoding"] = "latin-1"
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    ingest_catalog(engine, load_mapping(tmp_path / "m.yaml"))
    with engine.connect() as conn:
        assert (
            conn.execute(select(Product.title).where(Product.external_id == "P3")).scalar()
            == "Café Bistro Mug"
        )


def test_jsonl_and_parquet(engine: Engine, tmp_path: Path) -> None:
    jsonl = tmp_path / "catalog.jsonl"
    jsonl.write_text(
        "\n".join(
            json.dumps({**r, "attrs": {"voltage": "20V"} if r["id"] == "P1" else None})
            for r in CATALOG
        )
    )
    mapping = make_mapping(tmp_path)
    assert ingest_catalog(engine, mapping, jsonl).inserted == 3
    pq.write_table(pa.Table.from_pylist(QUERIES), tmp_path / "queries.parquet")
    assert ingest_queries(engine, mapping, tmp_path / "queries.parquet").inserted == 3
    with engine.connect() as conn:
        assert conn.execute(
            select(Product.attributes).where(Product.external_id == "P1")
        ).scalar() == {"voltage": "20V"}


def test_numeric_bins_and_integer_medians(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", CATALOG)
    write_csv(tmp_path / "queries.csv", QUERIES)
    bins = {
        "kind": "bins",
        "bins": [
            {"min": 1, "max": 2, "grade": 0},
            {"min": 2, "max": 2.5, "grade": 1},
            {"min": 2.5, "max": 3, "grade": 2},
            {"min": 3, "max": 3, "grade": 3, "include_max": True},
        ],
    }
    write_csv(
        tmp_path / "labels.csv",
        [{**LABELS[i], "label": v} for i, v in enumerate(["3", "1.33", "2.67", "2.0"])],
    )
    mapping = mapping_dict()
    mapping["labels"]["scale"] = bins
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    ingest_dataset(engine, load_mapping(tmp_path / "m.yaml"))
    with engine.connect() as conn:
        got = dict(conn.execute(select(HumanLabel.raw_label, HumanLabel.grade)).all())
    assert got == {"3": 3, "1.33": 0, "2.67": 2, "2.0": 1}

    medians = {"kind": "values", "values": {"1": 0, "2": 1, "3": 2, "4": 3}}
    assert (
        DatasetMapping.model_validate(
            {**mapping_dict(), "labels": {**mapping["labels"], "scale": medians}}
        ).labels.scale.grade("4.0")
        == 3
    )  # type: ignore[union-attr]


# ------------------------------------------------------------------------- bad input


def assert_nothing_written(engine: Engine) -> None:
    assert counts(engine) == EMPTY


def test_missing_column(engine: Engine, tmp_path: Path) -> None:
    write_csv(
        tmp_path / "catalog.csv", [{k: v for k, v in r.items() if k != "brand"} for r in CATALOG]
    )
    with pytest.raises(
        IngestError,
        match=r"catalog\.csv.*column 'brand': missing column\(s\) 'brand'; the header has 'id'",
    ):
        ingest_catalog(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


def test_undecodable_bytes(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", CATALOG * 50, encoding="latin-1")  # 'é' as a lone 0xE9 byte
    with pytest.raises(
        IngestError,
        match=r"catalog\.csv, row 3 \(line 4\), column 'title': bytes b'\\xe9' are not valid "
        "utf-8; declare",
    ):
        ingest_catalog(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


def test_duplicate_id_with_different_content(engine: Engine, tmp_path: Path) -> None:
    rows = [*CATALOG, {**CATALOG[0], "title": "DEWALT 12V Drill"}]
    write_csv(tmp_path / "catalog.csv", rows)
    with pytest.raises(
        IngestError,
        match=r"row 4 \(line 5\), column 'id': id 'P1' appeared at row 1 with different content \(title differ\)",
    ):
        ingest_catalog(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


def test_duplicate_ids_can_be_declared_known(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", [*CATALOG, {**CATALOG[0], "title": "DEWALT 12V Drill"}])
    mapping = mapping_dict()
    mapping["catalog"]["duplicate_ids"] = "keep_first"
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(mapping, sort_keys=False))
    report = ingest_catalog(engine, load_mapping(tmp_path / "m.yaml"))
    assert report.extra == {"conflicting_ids": 1} and report.inserted == 3
    with engine.connect() as conn:
        assert (
            conn.execute(select(Product.title).where(Product.external_id == "P1")).scalar()
            == CATALOG[0]["title"]
        )


def test_empty_title(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", [CATALOG[0], {**CATALOG[1], "title": "   "}])
    with pytest.raises(
        IngestError,
        match=r"row 2 \(line 3\), column 'title': the field is empty; a value is required",
    ):
        ingest_catalog(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


def test_label_outside_the_mapping(engine: Engine, dataset: DatasetMapping, tmp_path: Path) -> None:
    write_csv(tmp_path / "labels.csv", [*LABELS, {"qid": "Q2", "pid": "P1", "label": "X"}])
    with pytest.raises(
        IngestError,
        match=r"labels\.csv, row 5 \(line 6\), column 'label': label 'X' is not in the mapping's scale; expected one of 'E', 'S', 'C', 'I'",
    ):
        ingest_dataset(engine, dataset)
    assert_nothing_written(engine)  # catalog and queries of the same dataset were rolled back too


def test_field_over_the_size_limit(engine: Engine, tmp_path: Path) -> None:
    write_csv(tmp_path / "catalog.csv", [CATALOG[0], {**CATALOG[1], "title": "x" * 70_000}])
    with pytest.raises(
        IngestError,
        match=r"row 2 \(line 3\), column 'title': the field is 70,000 characters; the limit is 65,536",
    ):
        ingest_catalog(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


def test_empty_file(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "catalog.csv").write_text("")
    with pytest.raises(IngestError, match=r"catalog\.csv: the file is empty \(no header row\)"):
        ingest_catalog(engine, make_mapping(tmp_path))
    (tmp_path / "catalog.csv").write_text("id,title,brand,type,attrs\n")
    with pytest.raises(IngestError, match=r"catalog\.csv: the file has no data rows"):
        ingest_catalog(engine, make_mapping(tmp_path))
    assert_nothing_written(engine)


def test_label_for_an_unknown_product(
    engine: Engine, dataset: DatasetMapping, tmp_path: Path
) -> None:
    ingest_catalog(engine, dataset)
    ingest_queries(engine, dataset)
    write_csv(tmp_path / "labels.csv", [*LABELS, {"qid": "Q1", "pid": "P404", "label": "E"}])
    with pytest.raises(
        IngestError,
        match=r"row 5 \(line 6\), column 'pid': product 'P404' is not in the store; ingest the catalog first",
    ):
        ingest_labels(engine, dataset)
    assert counts(engine)["human_labels"] == 0


def test_bad_jsonl_line(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "catalog.jsonl"
    path.write_text(json.dumps(CATALOG[0]) + "\n{not json\n")
    with pytest.raises(IngestError, match=r"catalog\.jsonl, row 2 \(line 2\): not valid JSON"):
        ingest_catalog(engine, make_mapping(tmp_path), path)
    assert_nothing_written(engine)


def test_mapping_errors(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({**mapping_dict(), "catalgo": {}}, sort_keys=False))
    with pytest.raises(MappingError, match="unknown key 'catalgo'"):
        load_mapping(path)
    bad = mapping_dict()
    bad["labels"]["scale"] = {"kind": "values", "values": {"E": 5}}
    path.write_text(yaml.safe_dump(bad, sort_keys=False))
    with pytest.raises(MappingError, match="grades must be 0-3"):
        load_mapping(path)
