"""What a trainable tier learns from (annotator.training_data), on a small hand-made store.

The store: queries 1-10 and products 1-40. The tier-training split: query ``q`` labels its
three products ``3 (q - 1) + k`` (k = 1, 2, 3) with grade ``(q + k) % 4``: 30 pairs; products
31-40 are labelled by no one.

The dev slice is the queries whose ``seeded_unit(seed, "tier1-dev", q)`` falls under
``dev_fraction``. With seed 0 those numbers are, for queries 1-10: .756 .720 .337 .953 .608
.865 .491 .362 .366 .062, so ``dev_fraction`` .35 puts queries 3 and 10 (6 pairs) in the dev
slice and the other 8 queries (24 pairs) in the fit set.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, insert

from annotator.backends.base import Pair
from annotator.config import Tier1Training
from annotator.pairs import LabelledPair
from annotator.training_data import (
    NO_TRAINING_PAIRS,
    TRAINING_BOILERPLATE,
    Example,
    training_set,
)
from core.errors import DissentError
from store.db import open_store
from store.schema import Product, Query

DEV_QUERIES = {3, 10}
SETTINGS = Tier1Training(
    seed=0,
    dev_fraction=0.35,
    min_dev_pairs=0,
    negative_share=0.5,
    injected_share=0.25,
    boilerplate_share=0.5,
)


def _train() -> list[LabelledPair]:
    out = []
    for query in range(1, 11):
        for k in (1, 2, 3):
            product = 3 * (query - 1) + k
            fields = {"title": f"Product {product}", "description": f"about {product}"}
            pair = Pair(query, product, f"h{product}", f"query {query}", fields)
            out.append(LabelledPair(pair, (query + k) % 4, "train"))
    return out


TRAIN = _train()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('data') / 's.db'}")
    with engine.begin() as conn:
        conn.execute(
            insert(Query),
            [{"id": q, "external_id": f"q{q}", "text": f"query {q}"} for q in range(1, 11)],
        )
        conn.execute(
            insert(Product),
            [
                {
                    "id": p,
                    "external_id": f"p{p}",
                    "title": f"Product {p}",
                    "content_hash": f"h{p}",
                    "attributes": {},
                    "raw": {},
                }
                for p in range(1, 41)
            ],
        )
    return engine


def _of(examples: list[Example], kind: str) -> list[Example]:
    return [e for e in examples if e.kind == kind]


def test_the_dev_slice_is_whole_seeded_queries(store: Engine) -> None:
    data = training_set(store, TRAIN, SETTINGS)
    assert {e.query for e in data.dev} == {f"query {q}" for q in DEV_QUERIES}
    assert len(data.dev) == 6 and "dev_folded_in" not in data.counts
    humans = _of(data.fit, "human")
    assert len(humans) == 24
    assert not {e.query for e in humans} & {e.query for e in data.dev}
    # every example keeps its human grade
    grade = {(lp.pair.query, lp.pair.product["title"]): lp.grade for lp in TRAIN}
    assert all(grade[(e.query, e.product["title"])] == e.grade for e in [*humans, *data.dev])


def test_negatives_and_copies_are_shares_of_the_fit_pairs(store: Engine) -> None:
    data = training_set(store, TRAIN, SETTINGS)
    # 24 fit pairs: 12 negatives (.5), 6 injected (.25), 12 boilerplate (.5)
    assert data.counts == {
        "human": 24,
        "negative": 12,
        "injected": 6,
        "boilerplate": 12,
        "dev": 6,
    }
    assert len(data.fit) == 24 + 12 + 6 + 12
    assert [len(_of(data.fit, k)) for k in ("negative", "injected", "boilerplate")] == [12, 6, 12]


def test_negatives_are_unlabelled_catalog_products_for_fit_queries(store: Engine) -> None:
    data = training_set(store, TRAIN, SETTINGS)
    labelled = {(lp.pair.query, lp.pair.product["title"]) for lp in TRAIN}
    fit_queries = {f"query {q}" for q in range(1, 11)} - {f"query {q}" for q in DEV_QUERIES}
    for e in _of(data.fit, "negative"):
        assert e.grade == 0 and e.clean is None
        assert e.query in fit_queries
        assert (e.query, e.product["title"]) not in labelled
    # the dev slice has its own random products, for the combiner: .5 x 6 pairs
    assert len(data.dev_negatives) == 3
    assert all(e.grade == 0 and e.query not in fit_queries for e in data.dev_negatives)
    assert data.catalog is not None and data.catalog.documents == 40


def test_copies_append_text_and_keep_their_clean_twin_and_grade(store: Engine) -> None:
    data = training_set(store, TRAIN, SETTINGS)
    grade = {(lp.pair.query, lp.pair.product["title"]): lp.grade for lp in TRAIN}
    for e in [*_of(data.fit, "injected"), *_of(data.fit, "boilerplate")]:
        assert e.clean is not None
        assert grade[(e.query, e.clean["title"])] == e.grade
        assert e.product["title"].startswith(e.clean["title"])
    for e in _of(data.fit, "boilerplate"):  # seller text survives the sanitizer
        assert e.clean is not None
        assert any(phrase[:12] in e.product["title"] for phrase in TRAINING_BOILERPLATE)
        assert e.product["description"].startswith(e.clean["description"])
    # the same seed draws the same examples
    assert training_set(store, TRAIN, SETTINGS).fit == data.fit


def test_a_dev_slice_under_min_dev_pairs_is_folded_into_training(store: Engine) -> None:
    folded = training_set(store, TRAIN, SETTINGS.model_copy(update={"min_dev_pairs": 7}))
    assert folded.dev == [] and folded.dev_negatives == [] and folded.catalog is None
    # all 30 pairs train: 15 negatives, 8 injected (7.5 rounds to even), 15 boilerplate
    assert folded.counts == {
        "human": 30,
        "negative": 15,
        "injected": 8,
        "boilerplate": 15,
        "dev": 0,
        "dev_folded_in": 6,
    }
    kept = training_set(store, TRAIN, SETTINGS.model_copy(update={"min_dev_pairs": 6}))
    assert kept.counts["dev"] == 6  # a slice of exactly min_dev_pairs pairs chooses


def test_no_dev_slice_and_all_dev_slice(store: Engine) -> None:
    none = training_set(store, TRAIN, SETTINGS.model_copy(update={"dev_fraction": 0.0}))
    assert none.counts["human"] == 30 and none.counts["dev"] == 0
    assert "dev_folded_in" not in none.counts
    # every query in the dev slice leaves nothing to fit: it all trains, the last epoch kept
    every = training_set(store, TRAIN, SETTINGS.model_copy(update={"dev_fraction": 0.99}))
    assert every.counts["human"] == 30 and every.counts["dev_folded_in"] == 30


def test_no_pairs_or_a_grade_outside_the_scale_is_refused(store: Engine) -> None:
    with pytest.raises(DissentError, match=NO_TRAINING_PAIRS):
        training_set(store, [], SETTINGS)
    bad = [TRAIN[0], LabelledPair(TRAIN[1].pair, 4, "train")]
    with pytest.raises(
        DissentError, match=r"grades must be 0-3 to train the cross-encoder, got \[4\]"
    ):
        training_set(store, bad, SETTINGS)
