"""Free text as real catalogs bring it: kept, repaired, reported, and stored alike on both stores.

Control characters in titles, descriptions, brands, product types, attribute values and query
text become spaces; a brand or product type longer than its column is cut; stray bytes are read
in a declared fallback encoding; each change is one line of the ingest report naming the column
and its first rows. ``strict_text`` (``dissent ingest --strict``) refuses them instead; see
``tests/ingest/test_field_refusals.py`` and ``tests/ingest/test_bad_input_files.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cli import app
from ingest import ingest_dataset
from store.db import open_store
from store.schema import HumanLabel, Product, Query
from tests.conftest import _truncate
from tests.ingest.test_dataset import (
    CATALOG,
    LABELS,
    QUERIES,
    make_mapping,
    mapping_dict,
    write_csv,
)

LONG_BRAND = "Acme " + "Industrial " * 30  # 335 characters: the store holds 255
QUIRKY = [
    {
        **CATALOG[0],
        "title": "DEWALT\x1920V MAX Cordless Drill",  # a code-page leftover for a quote
        "brand": LONG_BRAND,
        "attrs": json.dumps({"voltage": "20\x00V", "case": "<b>hard</b> case"}),
    },
    {**CATALOG[1], "type": "Faucet\x1a", "title": "Glacier Bay <i>Chrome</i> Faucet"},
    CATALOG[2],
]
DESCRIPTION = "A mug. " * 3_000  # 21,000 characters: kept whole


def _write_quirky(folder: Path, **mapping: Any) -> None:
    rows = [{**r, "desc": DESCRIPTION if r["id"] == "P3" else "plain\x00text"} for r in QUIRKY]
    write_csv(folder / "catalog.csv", rows)
    write_csv(folder / "queries.csv", [{**QUERIES[0], "q": "cordless\x0bdrill"}, *QUERIES[1:]])
    write_csv(folder / "labels.csv", LABELS)
    columns = mapping_dict()["catalog"]["columns"] | {"description": "desc"}
    catalog = {**mapping_dict()["catalog"], "columns": columns}
    make_mapping(folder, catalog=catalog, **mapping)


def _stored(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        products = {
            row.external_id: (
                row.title,
                row.description,
                row.brand,
                row.product_type,
                row.attributes,
                row.raw,
                row.content_hash,
            )
            for row in conn.execute(select(Product))
        }
        queries = dict(conn.execute(select(Query.external_id, Query.text)).all())
        labels = conn.execute(select(HumanLabel.id)).all()
    return {"products": products, "queries": queries, "labels": len(labels)}


def test_quirky_free_text_is_ingested_repaired_and_reported(engine: Engine, tmp_path: Path) -> None:
    _write_quirky(tmp_path)
    reports = ingest_dataset(engine, make_mapping_from(tmp_path))
    catalog, queries, labels = reports
    assert catalog.inserted == 3 and queries.inserted == 3 and labels.inserted == 4
    assert catalog.changes == [  # columns as the file names them, in the order first met
        "title: 1 control character replaced by spaces (row 1)",
        "desc: 2 control characters replaced by spaces (rows 1, 2)",
        "brand: 1 value cut to the store's 255 characters (row 1)",
        "attrs: 1 control character replaced by spaces (row 1)",
        "type: 1 control character replaced by spaces (row 2)",
    ]
    assert queries.changes == ["q: 1 control character replaced by spaces (row 1)"]
    assert labels.changes == []
    stored = _stored(engine)
    p1, p2, p3 = (stored["products"][k] for k in ("P1", "P2", "P3"))
    assert p1[0] == "DEWALT 20V MAX Cordless Drill"
    assert p1[2] == "Acme" + " Industrial" * 22  # 246 characters: cut at the last word that fits
    assert p1[4] == {"voltage": "20 V", "case": "<b>hard</b> case"}  # markup kept as text
    assert p1[5]["attrs"] == QUIRKY[0]["attrs"]  # the raw row keeps the file's text
    assert p2[0] == "Glacier Bay <i>Chrome</i> Faucet" and p2[3] == "Faucet"
    assert p3[1] == DESCRIPTION.strip()  # long free text is kept whole
    assert stored["queries"]["Q1"] == "cordless drill"
    assert p2[5]["desc"] == "plain\ufffdtext"  # a NUL in a raw row: U+FFFD on both stores


def make_mapping_from(folder: Path) -> Any:
    from ingest.mapping import load_mapping

    return load_mapping(folder / "mapping.yaml")


@pytest.fixture
def both_stores(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Engine]]:
    sqlite = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    postgres = request.getfixturevalue("_postgres_engine")
    _truncate(postgres)
    yield sqlite, postgres
    sqlite.dispose()


def test_both_stores_hold_the_same_repaired_text(
    both_stores: tuple[Engine, Engine], tmp_path: Path
) -> None:
    _write_quirky(tmp_path)
    found = []
    for engine in both_stores:
        ingest_dataset(engine, make_mapping_from(tmp_path))
        found.append(_stored(engine))
    assert found[0] == found[1]
    assert found[0]["labels"] == 4


def test_query_text_without_ids_is_repaired_alike_in_queries_and_labels(
    engine: Engine, tmp_path: Path
) -> None:
    mapping = mapping_dict()
    mapping["queries"]["columns"] = {"text": "q"}
    mapping["labels"]["columns"]["query"] = "q"
    write_csv(tmp_path / "catalog.csv", CATALOG)
    write_csv(tmp_path / "queries.csv", [{"q": "kitchen\x1ffaucet"}])
    write_csv(tmp_path / "labels.csv", [{"q": "kitchen\x1ffaucet", "pid": "P2", "label": "S"}])
    (tmp_path / "mapping.yaml").write_text(yaml.safe_dump(mapping))
    reports = ingest_dataset(engine, make_mapping_from(tmp_path))
    assert reports[2].inserted == 1
    assert reports[2].changes == ["q: 1 control character replaced by spaces (row 1)"]
    with engine.connect() as conn:
        assert conn.execute(select(Query.external_id, Query.text)).all() == [
            ("kitchen faucet", "kitchen faucet")
        ]


def test_the_command_line_prints_what_it_repaired_and_strict_refuses(tmp_path: Path) -> None:
    _write_quirky(tmp_path)
    env = {"DISSENT_STORE__URL": f"sqlite:///{tmp_path / 's.db'}", "DISSENT_CONFIG": ""}
    args = ["ingest", "all", "--mapping", str(tmp_path / "mapping.yaml")]
    refused = CliRunner().invoke(app, [*args, "--strict"], env=env)
    assert refused.exit_code == 1
    assert "control character U+0019 at character 7" in refused.output
    assert "(strict_text)" in refused.output
    done = CliRunner().invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    assert "  title: 1 control character replaced by spaces (row 1)" in done.output.splitlines()
    assert "  brand: 1 value cut to the store's 255 characters (row 1)" in done.output.splitlines()
