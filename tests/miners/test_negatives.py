"""Token-similar and random negatives."""

from __future__ import annotations

import numpy as np

from miners.negatives import TfidfNegatives, random_negatives
from store.catalog import ProductDoc

PRODUCTS = [
    ProductDoc(1, "Garden Hose 50 ft"),
    ProductDoc(2, "Garden Hose Nozzle"),
    ProductDoc(3, "Garden Hoe with Wood Handle"),
    ProductDoc(4, "Cordless Drill"),
    ProductDoc(5, "Hose Reel Cart"),
]


def test_tfidf_negatives_share_words_and_skip_retrieved() -> None:
    negatives = TfidfNegatives(PRODUCTS)
    got = negatives.search(["garden hose", "garden hose"], exclude=[set(), {1, 2}], n=2)
    # "garden" and "hose" have equal idf (3 documents each); the shorter title is closer:
    # 2 (3 tokens) before 1 (4 tokens), then 5 (hose + 2 others) before 3 (garden + 3 others).
    assert [pid for pid, _ in got[0]] == [2, 1]
    assert [pid for pid, _ in got[1]] == [5, 3]  # 1 and 2 were retrieved by a channel
    assert all(score > 0 for row in got for _, score in row)
    # mining passes each query's retrieved ids as a sorted array: the same negatives
    as_array = negatives.search(["garden hose"], exclude=[np.array([1, 2])], n=2)
    assert as_array == got[1:]


def test_tfidf_never_returns_unrelated_products() -> None:
    got = TfidfNegatives(PRODUCTS).search(["ceiling fan"], exclude=[set()], n=3)
    assert got == [[]]


def test_random_negatives_are_seeded_distinct_and_exclude() -> None:
    ids = np.arange(1, 1001, dtype=np.int64)
    first = random_negatives(ids, query="drill", exclude={1, 2, 3}, n=20, seed=0)
    assert first == random_negatives(ids, query="drill", exclude={1, 2, 3}, n=20, seed=0)
    assert first != random_negatives(ids, query="hose", exclude={1, 2, 3}, n=20, seed=0)
    assert len(set(first)) == 20 and not {1, 2, 3} & set(first)


def test_random_negatives_in_a_tiny_catalog_stop_at_what_is_left() -> None:
    ids = np.arange(1, 6, dtype=np.int64)
    assert sorted(random_negatives(ids, query="x", exclude={1, 2}, n=10, seed=0)) == [3, 4, 5]
