"""The character-trigram title index the catalog channel fills its lists from."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

import miners.trigrams as trigrams
from core.errors import StoreError
from miners.trigrams import TrigramIndex, grams

TITLES = {
    1: "Frigidaire 18 cu. ft. Top Freezer Refrigerator in White",
    2: "Whirlpool 25 cu. ft. French Door Refrigerator",
    3: "Bosch 24 in. Top Control Dishwasher",
    4: "Dish Washer Rack Replacement Basket",
    5: "DEWALT 20-Volt MAX Cordless Drill",
    6: "Drill Bit Set (21-Piece)",
    7: "Everbilt 12 in. White Shelf Bracket",
    8: "Everbilt 12 in. White Shelf Bracket",  # the same title: ties go to the smaller id
}


def index(min_df: int = 1) -> TrigramIndex:
    return TrigramIndex.build(list(TITLES), list(TITLES.values()), min_df=min_df)


def ids(hits: list[tuple[int, float]]) -> list[int]:
    return [pid for pid, _ in hits]


def test_grams_pad_each_token_and_drop_stopwords() -> None:
    assert grams("Drill") == {" dr": 1, "dri": 1, "ril": 1, "ill": 1, "ll ": 1}
    assert grams("a Café-Drill") == grams("cafe drill")
    assert grams("") == {} and grams("the of") == {}


def test_misspelt_and_run_together_words_are_found() -> None:
    found = index().search(["refrigirator", "dishwasher", "dewlat cordles dril"], 3)
    assert set(ids(found[0])[:2]) == {1, 2}  # a misspelling BM25 over words finds nothing for
    assert ids(found[1])[:2] == [3, 4]  # "Dish Washer" is found for "dishwasher"
    assert ids(found[2])[0] == 5


def test_scores_are_sklearn_tfidf_cosines() -> None:
    idx = index()
    vectorizer = TfidfVectorizer(analyzer=lambda t: list(grams(t).elements()), sublinear_tf=True)
    matrix = vectorizer.fit_transform(list(TITLES.values()))
    query = "white refrigerator"
    expected = (matrix @ vectorizer.transform([query]).T).toarray().ravel()
    got = dict(idx.search([query], len(TITLES))[0])
    for pid, cosine in zip(TITLES, expected, strict=True):
        assert got.get(pid, 0.0) == pytest.approx(cosine, abs=1e-5)
    assert all(0 < s <= 1 + 1e-6 for s in got.values())


def test_order_ties_exclusion_and_k() -> None:
    idx = index()
    hits = idx.search(["white shelf bracket"], 8)[0]
    assert ids(hits)[:2] == [7, 8] and hits[0][1] == pytest.approx(hits[1][1])
    assert all(a[1] >= b[1] for a, b in pairwise(hits))
    assert ids(idx.search(["white shelf bracket"], 1)[0]) == [7]  # the tie goes to the smaller id
    assert ids(idx.search(["white shelf bracket"], 2, exclude=[{7}])[0])[0] == 8
    assert idx.search(["xyzzy qqq", ""], 5) == [[], []]  # no gram in common: nothing
    with pytest.raises(StoreError, match="at least 1"):
        idx.search(["drill"], 0)


def test_rare_grams_are_dropped_at_min_df() -> None:
    idx = index(min_df=2)
    assert "fri" in idx.vocabulary and "bos" not in idx.vocabulary  # "Bosch" is in one title
    assert idx.search(["bos"], 3) == [[]]  # its grams " bo", "bos", "os " are all dropped


def test_chunks_give_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    idx = index()
    queries = ["refrigerator", "drill", "shelf", "dish washer", "white"] * 3
    whole = idx.search(queries, 4, exclude=[{5}] * len(queries))
    monkeypatch.setattr(trigrams, "_CHUNK", 2)
    assert idx.search(queries, 4, exclude=[{5}] * len(queries)) == whole


def test_save_load_round_trip_and_bad_files(tmp_path: Path) -> None:
    idx = index(min_df=2)
    idx.save(tmp_path / "t.npz")
    again = TrigramIndex.load(tmp_path / "t.npz")
    queries = ["refrigirator", "white shelf bracket", "cordless drill"]
    assert again.search(queries, 5) == idx.search(queries, 5)
    np.testing.assert_array_equal(again.ids, idx.ids)
    with pytest.raises(StoreError, match="cannot read"):
        TrigramIndex.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", format=np.array("something else"))
    with pytest.raises(StoreError, match="not a dissent-trigrams"):
        TrigramIndex.load(tmp_path / "other.npz")


def test_empty_catalog_and_mismatched_input() -> None:
    empty = TrigramIndex.build([], [])
    assert len(empty) == 0 and empty.search(["drill"], 3) == [[]]
    with pytest.raises(StoreError, match="2 ids but 1 titles"):
        TrigramIndex.build([1, 2], ["drill"])
