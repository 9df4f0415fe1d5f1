"""The real Home Depot data ingests with one command and the shipped mapping."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from ingest import ingest_dataset
from ingest.mapping import load_mapping
from store.ledger import table_counts
from store.schema import HumanLabel, Product
from tests.conftest import ROOT
from tests.flows.test_cli import run

pytestmark = pytest.mark.homedepot


def test_homedepot_ingests_with_the_shipped_mapping(engine: Engine, homedepot_csv: Path) -> None:
    mapping = load_mapping(ROOT / "configs/homedepot.yaml")
    reports = ingest_dataset(engine, mapping, homedepot_csv)
    assert [r.rows for r in reports] == [74_067] * 3
    counts = table_counts(engine)
    assert (counts["products"], counts["queries"], counts["human_labels"]) == (
        54_667,
        11_795,
        74_067,
    )
    assert reports[0].extra == {"conflicting_ids": 15}
    with engine.connect() as conn:
        title = conn.execute(select(Product.title).where(Product.external_id == "100001")).scalar()
        assert title == "Simpson Strong-Tie 12-Gauge Angle"
        grades = dict(
            conn.execute(select(HumanLabel.grade, func.count()).group_by(HumanLabel.grade)).all()
        )
        raw = dict(
            conn.execute(
                select(HumanLabel.raw_label, func.count()).group_by(HumanLabel.raw_label)
            ).all()
        )
    assert grades == {0: 11_900, 1: 27_810, 2: 15_232, 3: 19_125}
    assert raw["3"] == 19_125 and raw["2.33"] == 16_060
    again = ingest_dataset(engine, mapping, homedepot_csv)
    assert [(r.inserted, r.updated) for r in again] == [(0, 0)] * 3


def test_homedepot_from_the_command_line(homedepot_csv: Path, tmp_path: Path) -> None:
    done = run(
        "ingest",
        "all",
        str(homedepot_csv),
        "--mapping",
        str(ROOT / "configs/homedepot.yaml"),
        env={"DISSENT_STORE__URL": f"sqlite:///{tmp_path / 'hd.db'}"},
    )
    assert done.exit_code == 0, done.stderr
    assert "labels: 74067 rows" in done.stdout and "74067 new" in done.stdout
