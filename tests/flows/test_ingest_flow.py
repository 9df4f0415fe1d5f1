"""The ingest flow runs through a real (temporary, local) Prefect API."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.ingestion import ingest
from store.db import open_store
from store.ledger import table_counts
from tests.conftest import SAMPLE


@pytest.mark.slow
def test_ingest_flow_on_the_sample(
    harness: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'flow.db'}"
    monkeypatch.setenv("DISSENT_STORE__URL", url)
    reports = ingest(str(SAMPLE / "mapping.yaml"))
    assert [r["kind"] for r in reports] == ["catalog", "queries", "labels"]
    counts = table_counts(open_store(url))
    assert counts["products"] == reports[0]["inserted"] > 250
    assert counts["queries"] == reports[1]["inserted"] >= 38
    assert counts["human_labels"] == reports[2]["inserted"] >= 300
