"""The bm25 channel on the sample catalog, and bm25s against the rank_bm25 reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import StoreError
from core.tokenize import tokenize
from miners.bm25 import Bm25Channel
from store.catalog import ProductDoc
from tests.miners.conftest import by_id


@pytest.fixture(scope="module")
def bm25(sample_products: list[ProductDoc]) -> Bm25Channel:
    channel = Bm25Channel()
    channel.index(sample_products)
    return channel


def test_tokenizer_keeps_numbers_and_folds_accents() -> None:
    assert tokenize("DEWALT 20V Café-Drill, 1/2 in. for the deck") == [
        "dewalt",
        "20v",
        "cafe",
        "drill",
        "1",
        "2",
        "deck",
    ]


def test_cordless_drill_finds_cordless_drills(
    bm25: Bm25Channel, sample_products: list[ProductDoc]
) -> None:
    result = bm25.search(["cordless drill"], k=5)
    titles = [by_id(sample_products)[pid].title.lower() for pid, _ in result.row(0)]
    assert len(titles) == 5
    assert all("cordless" in t and "drill" in t for t in titles)
    assert list(result.scores[0]) == sorted(result.scores[0], reverse=True)


def test_unknown_words_return_nothing_and_pad(bm25: Bm25Channel) -> None:
    result = bm25.search(["zzqx wubble", ""], k=3)
    assert result.ids.tolist() == [[-1, -1, -1], [-1, -1, -1]]
    assert np.isneginf(result.scores).all()


def test_search_before_index_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="no index"):
        Bm25Channel().search(["x"], k=1)


@pytest.mark.parametrize("engine", ["bm25s", "rank_bm25"])
def test_save_load_round_trip(
    engine: str, sample_products: list[ProductDoc], tmp_path: Path
) -> None:
    channel = Bm25Channel(engine=engine)  # type: ignore[arg-type]
    channel.index(sample_products)
    queries = ["cordless drill", "ceiling fan with light", "garden hose 50 ft"]
    before = channel.search(queries, k=20)
    channel.save(tmp_path / "bm25")
    loaded = Bm25Channel()
    loaded.load(tmp_path / "bm25")
    after = loaded.search(queries, k=20)
    assert loaded.engine_name == engine
    np.testing.assert_array_equal(before.ids, after.ids)
    np.testing.assert_allclose(before.scores, after.scores, rtol=1e-5)


@pytest.mark.homedepot
def test_engines_agree_on_real_home_depot_queries(homedepot_csv: Path) -> None:
    """Same tokenizer, variant and parameters: top-10 of bm25s and rank_bm25 agree >= 99%."""
    data = pd.read_csv(homedepot_csv, encoding="latin-1")
    products = data.drop_duplicates("product_uid").head(8000)
    docs = [ProductDoc(int(r.product_uid), r.product_title) for r in products.itertuples()]
    queries = data.search_term.drop_duplicates().sample(200, random_state=0).tolist()
    fast, reference = Bm25Channel(), Bm25Channel(engine="rank_bm25")
    fast.index(docs)
    reference.index(docs)
    a, b = fast.search(queries, 10), reference.search(queries, 10)
    shares = []
    for i in range(len(queries)):
        got, want = set(a.ids[i][a.ids[i] >= 0]), set(b.ids[i][b.ids[i] >= 0])
        shares.append(1.0 if not want and not got else len(got & want) / max(len(got), len(want)))
    assert np.mean(shares) >= 0.99
    assert sum(1 for i in range(len(queries)) if (a.ids[i] >= 0).any()) > 150  # most queries hit
