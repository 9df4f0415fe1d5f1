"""annotation.sample: spreading a budget of pairs over many queries (annotator.sampling)."""

from __future__ import annotations

from collections import Counter

from annotator.pairs import CandidateRow
from annotator.sampling import SampleConfig, sample_candidates

SETS = ("easy_positive", "hard_negative", "random_negative")


def _rows(queries: int = 30, per_set: int = 6) -> list[CandidateRow]:
    return [
        CandidateRow(q, 100 * q + 10 * s + i, name)
        for q in range(1, queries + 1)
        for s, name in enumerate(SETS)
        for i in range(per_set)
    ]


def test_an_inactive_policy_keeps_every_candidate_in_order() -> None:
    rows = _rows()
    assert sample_candidates(rows, SampleConfig()) == rows


def test_caps_per_set_and_per_query_hold_for_every_query() -> None:
    rows = _rows()
    policy = SampleConfig(per_set={"hard_negative": 2, "random_negative": 0}, per_query=7)
    chosen = sample_candidates(rows, policy)
    per_query = Counter(c.query_id for c in chosen)
    assert set(per_query) == {r.query_id for r in rows}  # spread over every query
    assert all(n == 7 for n in per_query.values())  # 6 easy + 2 hard, cut to 7
    per_set = Counter((c.query_id, c.candidate_set) for c in chosen)
    assert all(per_set[(q, "hard_negative")] <= 2 for q in per_query)
    assert not any(c.candidate_set == "random_negative" for c in chosen)
    assert set(chosen) <= set(rows)


def test_the_choice_depends_on_the_seed_and_the_query_alone() -> None:
    rows = _rows()
    policy = SampleConfig(per_set={"hard_negative": 2}, per_query=4)
    chosen = sample_candidates(rows, policy)
    assert sample_candidates(list(reversed(rows)), policy) == chosen  # input order is irrelevant
    # one query's choice does not change when other queries come and go
    alone = sample_candidates([r for r in rows if r.query_id == 5], policy)
    assert alone == [c for c in chosen if c.query_id == 5]
    reseeded = sample_candidates(rows, policy.model_copy(update={"seed": 1}))
    assert reseeded != chosen and Counter(c.query_id for c in reseeded) == Counter(
        c.query_id for c in chosen
    )
    # queries come in a seeded order (a --limit takes queries spread over the run), each
    # query's pairs by product id
    order = list(dict.fromkeys(c.query_id for c in chosen))
    assert order != sorted(order)
    for q in order:
        ids = [c.product_id for c in chosen if c.query_id == q]
        assert ids == sorted(ids)
