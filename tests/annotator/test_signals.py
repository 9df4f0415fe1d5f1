"""The lexical channel signals (annotator.signals), computed by hand on a three-title catalog.

The catalog: "DEWALT 20V Drill", "Claw Hammer", "Garden Hose" — three documents, seven tokens
(average length 7/3), every token in one title. With N = 3 documents, a token in one title
has IDF ln(1 + (3 - 1 + .5) / (1 + .5)) = ln(8/3), and a token in none ln(1 + 3.5 / .5) = ln 8.
BM25 (k1 1.5, b .75) of a title of length L holding a query word once adds
idf * 2.5 / (1 + 1.5 (.25 + .75 L / (7/3))); a title holding every query word once would score
the sum of the words' IDFs (the ``bm25_share`` denominator).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from annotator.signals import CatalogStats, SignalComputer, lexical_names, lexical_signals

STATS = CatalogStats.from_titles(["DEWALT 20V Drill", "Claw Hammer", "Garden Hose"])
ONE = math.log(8 / 3)  # IDF of a token in one title of three
NONE = math.log(8)  # IDF of a token in no title


def signals(query: str, product: dict[str, object]) -> dict[str, float]:
    return dict(zip(lexical_names(), lexical_signals(STATS, query, product), strict=True))


def test_catalog_statistics() -> None:
    assert (STATS.documents, STATS.average_length) == (3, pytest.approx(7 / 3))
    assert STATS.df == dict.fromkeys(
        ["dewalt", "20v", "drill", "claw", "hammer", "garden", "hose"], 1
    )
    assert STATS.idf("drill") == pytest.approx(ONE)
    assert STATS.idf("ladder") == pytest.approx(NONE)
    assert CatalogStats.from_json(STATS.to_json()) == STATS


def test_a_title_holding_every_query_word() -> None:
    # title of 3 tokens: norm = 1.5 (.25 + .75 * 3 / (7/3)) = 51/28; each word adds
    # idf * 2.5 / (1 + 51/28) = idf * 70/79
    got = signals("dewalt drill", {"title": "DEWALT 20V Drill"})
    assert got == pytest.approx(
        {
            "bm25": 2 * ONE * 70 / 79,
            "bm25_share": 70 / 79,
            "title_cover": 1.0,
            "fields_cover": 1.0,
            "fields_cover_idf": 1.0,
            "numbers_cover": 1.0,  # no number in the query: nothing to miss
            "has_numbers": 0.0,
            "query_words": 2.0,
        }
    )


def test_a_number_found_in_an_attribute_not_the_title() -> None:
    # title of 2 tokens: norm = 1.5 (.25 + .75 * 2 / (7/3)) = 75/56; "hose" adds
    # idf * 2.5 / (1 + 75/56) = idf * 140/131; "20v" is in the attributes only
    got = signals("20v hose", {"title": "Garden Hose", "attributes": {"voltage": "20V"}})
    assert got == pytest.approx(
        {
            "bm25": ONE * 140 / 131,
            "bm25_share": (ONE * 140 / 131) / (2 * ONE),
            "title_cover": 0.5,
            "fields_cover": 1.0,
            "fields_cover_idf": 1.0,
            "numbers_cover": 1.0,
            "has_numbers": 1.0,
            "query_words": 2.0,
        }
    )


def test_missing_words_and_the_rare_ones_weigh_more() -> None:
    nothing = signals("cordless drill", {"title": "Claw Hammer", "brand": "DEWALT"})
    assert nothing == pytest.approx(
        {
            "bm25": 0.0,
            "bm25_share": 0.0,
            "title_cover": 0.0,
            "fields_cover": 0.0,
            "fields_cover_idf": 0.0,
            "numbers_cover": 1.0,
            "has_numbers": 0.0,
            "query_words": 2.0,
        }
    )
    # "hammer" (in one title) found, "cordless" (in none, the rarer) missing
    half = signals("cordless hammer", {"title": "Claw Hammer"})
    assert half["title_cover"] == 0.5
    assert half["fields_cover_idf"] == pytest.approx(ONE / (NONE + ONE))
    # a brand counts for the fields, not for the title
    branded = signals("dewalt hammer", {"title": "Claw Hammer", "brand": "DEWALT"})
    assert (branded["title_cover"], branded["fields_cover"]) == (0.5, 1.0)
    # a query number the product lacks
    missing = signals("20v drill", {"title": "DEWALT Drill"})
    assert (missing["numbers_cover"], missing["has_numbers"]) == (0.0, 1.0)


def test_the_computer_stacks_the_lexical_signals_per_pair() -> None:
    computer = SignalComputer(["lexical"], STATS)
    assert computer.names == list(lexical_names())
    queries = ["dewalt drill", "cordless drill"]
    products = [{"title": "DEWALT 20V Drill"}, {"title": "Claw Hammer", "brand": "DEWALT"}]
    rows = computer.compute(queries, products)
    assert rows.shape == (2, 8)
    np.testing.assert_allclose(
        rows[0], lexical_signals(STATS, "dewalt drill", {"title": "DEWALT 20V Drill"})
    )
    assert SignalComputer([], None).compute(queries, products).shape == (2, 0)
    with pytest.raises(ValueError, match="lexical signals need the catalog's title statistics"):
        SignalComputer(["lexical"], None)
