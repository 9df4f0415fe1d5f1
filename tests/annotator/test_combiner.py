"""Tier 1's combiner: channel signals beside the cross-encoder's answer (annotator.combiner)."""

from __future__ import annotations

import numpy as np
import pytest

from annotator.combiner import Combiner, fit_combiner
from annotator.signals import CatalogStats, SignalComputer, lexical_names, lexical_signals

TITLES = [
    "DEWALT 20V MAX Cordless Drill",
    "Claw Hammer 16 oz",
    "Garden Hose 50 ft",
    "LED Light Bulb 60W",
    "Cordless Drill Battery 20V",
    "Hammer Drill Bit Set",
]
STATS = CatalogStats.from_titles(TITLES)


def _signals(query: str, product: dict[str, object]) -> dict[str, float]:
    return dict(zip(lexical_names(), lexical_signals(STATS, query, product), strict=True))


def test_lexical_signals_weigh_what_the_catalog_makes_rare() -> None:
    drill = _signals("dewalt 20v drill", {"title": "DEWALT 20V MAX Cordless Drill"})
    assert drill["title_cover"] == 1.0 and drill["numbers_cover"] == 1.0
    assert drill["has_numbers"] == 1.0 and drill["query_words"] == 3.0
    assert drill["bm25"] > 0 and 0 < drill["bm25_share"] <= 1.0
    hose = _signals("dewalt 20v drill", {"title": "Garden Hose 50 ft"})
    assert hose["bm25"] == 0 and hose["title_cover"] == 0 and hose["numbers_cover"] == 0
    # a word found in a structured field counts for the fields, not for the title
    branded = _signals("dewalt drill", {"title": "Cordless Drill", "brand": "DEWALT"})
    assert branded["title_cover"] == 0.5 and branded["fields_cover"] == 1.0
    # missing the rare word ("dewalt": one title) costs more than missing the common one
    rare = _signals("dewalt drill", {"title": "Drill"})["fields_cover_idf"]
    common = _signals("dewalt drill", {"title": "DEWALT"})["fields_cover_idf"]
    assert rare < 0.5 < common
    assert _signals("hammer", {"title": "Claw Hammer"})["numbers_cover"] == 1.0  # no numbers


def test_catalog_stats_survive_json() -> None:
    again = CatalogStats.from_json(STATS.to_json())
    assert again == STATS and STATS.documents == 6 and STATS.df["drill"] == 3


def synthetic_pairs(
    n_queries: int = 60, seed: int = 0
) -> tuple[np.ndarray, list[str], list[dict[str, object]], list[int]]:
    """Pairs whose grade is how much of the query the title holds; the 'cross-encoder'
    answers noise with a faint hint of the grade."""
    rng = np.random.default_rng(seed)
    words = ["drill", "hammer", "hose", "bulb", "saw", "ladder", "paint", "brush"]
    queries, products, grades = [], [], []
    for q in range(n_queries):
        query = [words[q % 8], words[(q + 3) % 8], f"q{q}"]
        for grade in range(4):
            for _ in range(2):
                kept = query[:grade]
                queries.append(" ".join(query))
                products.append({"title": " ".join([*kept, "widget"])})
                grades.append(grade)
    dists = rng.dirichlet(np.ones(4), size=len(grades))
    dists[np.arange(len(grades)), grades] += 0.05
    dists /= dists.sum(axis=1, keepdims=True)
    return dists, queries, products, grades


def test_a_combiner_is_kept_when_the_signals_carry_the_grade() -> None:
    dists, queries, products, grades = synthetic_pairs()
    stats = CatalogStats.from_titles(str(p["title"]) for p in products)
    fit = fit_combiner(dists, queries, products, grades, queries, signals=["lexical"], stats=stats)
    assert fit.combiner is not None, fit.reason
    assert fit.cv_qwk_combined is not None and fit.cv_qwk_alone is not None
    assert fit.cv_qwk_combined > 0.8 > fit.cv_qwk_alone
    combined = fit.combiner.apply(dists, queries, products)
    assert combined.shape == (len(grades), 4)
    np.testing.assert_allclose(combined.sum(axis=1), 1.0)
    assert (combined.argmax(axis=1) == np.asarray(grades)).mean() > 0.9
    again = Combiner.from_json(fit.combiner.to_json())
    np.testing.assert_allclose(again.apply(dists, queries, products), combined)
    assert fit.summary()["kept"] is True
    # a gain smaller than min_gain is not worth the signals' cost
    small = fit_combiner(
        dists, queries, products, grades, queries, signals=["lexical"], stats=stats, min_gain=1.0
    )
    assert small.combiner is None and "less than the 1.0 it must gain" in small.reason


def test_a_combiner_that_does_not_help_is_not_kept() -> None:
    dists, queries, products, grades = synthetic_pairs()
    sure = np.full_like(dists, 0.01)
    sure[np.arange(len(grades)), grades] = 0.97  # a cross-encoder that is always right
    noise = [{"title": "widget"} for _ in products]  # and signals that say nothing
    stats = CatalogStats.from_titles(["widget"])
    fit = fit_combiner(sure, queries, noise, grades, queries, signals=["lexical"], stats=stats)
    assert fit.combiner is None and "less than the 0.01 it must gain" in fit.reason
    few = fit_combiner(
        dists[:20],
        queries[:20],
        products[:20],
        grades[:20],
        queries[:20],
        signals=["lexical"],
        stats=stats,
    )
    assert few.combiner is None and "too few" in few.reason
    none = fit_combiner(dists, queries, products, grades, queries, signals=[], stats=None)
    assert none.combiner is None and none.reason == "no signals configured"


def test_two_grades_only_still_give_four_way_distributions() -> None:
    dists, queries, products, grades = synthetic_pairs()
    binary = [0 if g < 2 else 3 for g in grades]
    stats = CatalogStats.from_titles(str(p["title"]) for p in products)
    fit = fit_combiner(dists, queries, products, binary, queries, signals=["lexical"], stats=stats)
    assert fit.combiner is not None
    out = fit.combiner.apply(dists, queries, products)
    assert out.shape == (len(binary), 4) and np.all(out[:, [1, 2]] == 0)
    assert (np.where(out[:, 3] > 0.5, 3, 0) == np.asarray(binary)).mean() > 0.9


def test_lexical_signals_need_the_catalog() -> None:
    with pytest.raises(ValueError, match="title statistics"):
        SignalComputer(["lexical"], None)


@pytest.mark.slow
def test_the_dense_signal_is_the_cosine_of_the_packaged_minilm() -> None:
    computer = SignalComputer(["dense"], None)
    assert computer.names == ["cosine"]
    cos = computer.compute(
        ["cordless drill", "cordless drill"],
        [{"title": "DEWALT 20V Cordless Drill"}, {"title": "Lavender Perfume 50 ml"}],
    )
    assert cos.shape == (2, 1) and cos[0, 0] > cos[1, 0] + 0.2 and cos[0, 0] <= 1.0 + 1e-6
