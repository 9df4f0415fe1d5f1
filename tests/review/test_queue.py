"""The labelling queue: which pairs it proposes, by hand on a small store."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import Engine, insert, select

from flows.config import PipelineConfig
from review.queue import _shares, entropy, fill_queue, propose
from store.schema import Candidate, HumanLabel, ReviewItem


def test_entropy_and_shares_by_hand() -> None:
    assert entropy([1, 0, 0, 0]) == 0.0 and entropy([1, 1, 1, 1]) == 1.0
    assert _shares({"a": 5, "b": 1, "c": 2}, 6) == {"a": 3, "b": 1, "c": 2}
    assert _shares({"a": 5, "b": 1}, 20) == {"a": 5, "b": 1}  # no more than there is
    assert _shares({"a": 3, "b": 3, "c": 3}, 4) == {"a": 2, "b": 1, "c": 1}


def test_active_covers_every_cell_unsure_pairs_first(
    store: Engine, settings: PipelineConfig
) -> None:
    chosen = propose(store, settings, 20)
    assert len(chosen) == 20 and len({(p.query_id, p.product_id) for p in chosen}) == 20
    cells = Counter(p.cell for p in chosen)
    # five sets, graded (odd queries) and ungraded (even queries): ten cells, two pairs each
    assert len(cells) == 10 and set(cells.values()) == {2}
    assert Counter(p.query_id for p in chosen).most_common(1)[0][1] <= 2  # per_query
    graded = [p for p in chosen if p.uncertainty is not None]
    # the unsure sets (hard_positive, token_negative: uniform answers) have entropy 1
    assert {p.reason["set"] for p in graded if p.uncertainty == 1.0} == {
        "hard_positive",
        "token_negative",
    }
    assert chosen[:10] == sorted(chosen[:10], key=lambda p: p.cell)  # the cells in turn
    assert propose(store, settings, 20) == chosen  # seeded: the same again


def test_within_a_cell_the_least_sure_come_first(store: Engine, settings: PipelineConfig) -> None:
    settings.review.per_query = 5
    chosen = propose(store, settings, 60)
    for cell in {p.cell for p in chosen}:
        uncertainties = [
            p.uncertainty if p.uncertainty is not None else 1.0 for p in chosen if p.cell == cell
        ]
        assert uncertainties == sorted(uncertainties, reverse=True)


def test_random_and_stratified_are_seeded_controls(store: Engine, settings: PipelineConfig) -> None:
    random = propose(store, settings, 10, strategy="random")
    assert random == propose(store, settings, 10, strategy="random")
    settings.review.seed = 1
    assert random != propose(store, settings, 10, strategy="random")
    stratified = propose(store, settings, 20, strategy="stratified")
    assert len(Counter(p.cell for p in stratified)) == 10


def test_filling_continues_and_leaves_out_labelled_pairs(
    store: Engine, settings: PipelineConfig
) -> None:
    with store.begin() as conn:  # a person graded query 1's pairs already
        conn.execute(
            insert(HumanLabel),
            [
                {"query_id": 1, "product_id": p, "grade": 2, "raw_label": "S", "source": "file"}
                for p in (6, 7, 8, 9, 10)
            ],
        )
    settings.review.overlap_share = 0.5
    first = fill_queue(store, settings, 12)
    second = fill_queue(store, settings, 12)
    assert (first.added, second.added, second.queued) == (12, 12, 24)
    with store.connect() as conn:
        items = conn.execute(
            select(
                ReviewItem.query_id, ReviewItem.product_id, ReviewItem.position, ReviewItem.raters
            )
        ).all()
    assert len({(q, p) for q, p, _, _ in items}) == 24  # never queued twice
    assert not {(q, p) for q, p, _, _ in items} & {(1, p) for p in (6, 7, 8, 9, 10)}
    assert sorted(position for _, _, position, _ in items) == list(range(1, 25))
    assert 4 <= sum(raters == 2 for *_, raters in items) <= 20  # about half for two people
    assert first.lines()[0].startswith("queued 12 pairs (active; ")


def test_a_simulation_chooses_among_revealed_pairs_with_its_own_distributions(
    store: Engine, settings: PipelineConfig
) -> None:
    """A label-budget simulation: only judged pairs may be proposed, the pairs of the budget so
    far are the labelled ones (whatever the store's human labels say), and tier 1's answers
    for the pool come with the call."""
    with store.connect() as conn:
        candidates = conn.execute(select(Candidate.query_id, Candidate.product_id)).all()
    pool = {tuple(c) for c in candidates if c[0] <= 6}
    held = {next(iter(sorted(pool)))}
    sure, unsure = [1.0, 0.0, 0.0, 0.0], [0.25] * 4
    dists = {pair: unsure if pair[1] % 2 else sure for pair in pool}
    chosen = propose(
        store, settings, 100, among=pool, labelled=held, distributions=dists, strategy="active"
    )
    picked = {(p.query_id, p.product_id) for p in chosen}
    assert picked <= pool - held and len(picked) == min(100, len(pool) - 1, 6 * 2)  # per_query 2
    assert all(p.uncertainty == (1.0 if p.product_id % 2 else 0.0) for p in chosen)
    # within a cell the unsure pair comes before the sure one
    for cell in {p.cell for p in chosen}:
        shown = [p.uncertainty for p in chosen if p.cell == cell]
        assert shown == sorted(shown, reverse=True)


def test_a_simulation_names_its_cells_by_its_own_grades(
    store: Engine, settings: PipelineConfig
) -> None:
    """Grades passed with the call name the cells, not the store's cascade labels (another
    arm's, in a label-budget simulation); an empty mapping leaves every pair ungraded."""
    with store.connect() as conn:
        candidates = conn.execute(select(Candidate.query_id, Candidate.product_id)).all()
    pool = {tuple(c) for c in candidates if c[0] <= 6}
    own = {pair: pair[1] % 4 for pair in pool}
    chosen = propose(store, settings, 100, among=pool, labelled=set(), grades=own)
    assert chosen and all(
        p.cell.endswith(f"/ grade {own[p.query_id, p.product_id]}") for p in chosen
    )
    assert all(p.reason["cascade_grade"] == own[p.query_id, p.product_id] for p in chosen)
    none = propose(store, settings, 100, among=pool, labelled=set(), grades={})
    assert none and all(p.cell.endswith("/ ungraded") for p in none)
