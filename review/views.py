"""What the review page lets people browse: the cascade's and the curriculum's decisions.

Each view reads the store only, a page of examples at a time, with the total it was cut from:

- :func:`by_set`: the latest mining run's candidates of one disagreement set, with the
  cascade's grade and the people's (``human_labels``, any source) where there is one;
- :func:`by_level`: the latest curriculum run's examples of one level (its un-augmented rows:
  query, positive, negative, label, stage, split);
- :func:`promoted`: candidates mined as negatives (hard, token-similar or random) that the
  cascade graded relevant (grade ≥ 2), which the curriculum trains as positives;
- :func:`demoted`: easy positives (every channel agreed) that the cascade graded not relevant;
- :func:`disputed`: the pairs where the cascade and the people's grade are furthest apart;
- :func:`hindsight`: a pair a person just graded, with the cascade's grade beside theirs (the
  queue page shows it after the person's grade, never before).

Every view answers an empty page, not an error, when the store holds no run to show.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, Select, and_, func, select
from sqlalchemy.orm import aliased

from review.labelling import current_grades
from review.verdicts import cascade_grades
from store.ledger import Flow, latest_run
from store.schema import (
    Candidate,
    CurriculumExample,
    HumanLabel,
    Label,
    Product,
    Query,
    ReviewItem,
)

__all__ = [
    "LEVELS",
    "NEGATIVE_SETS",
    "RELEVANT",
    "SETS",
    "Example",
    "Hindsight",
    "LevelExample",
    "Page",
    "by_level",
    "by_set",
    "demoted",
    "disputed",
    "hindsight",
    "level_counts",
    "promoted",
    "set_counts",
]

# The curriculum's level names (curriculum.levels.LEVELS; the review reads that stage only
# through the store).
LEVELS = {
    1: "easy positives",
    2: "hard positives",
    3: "hard negatives",
    4: "token-similar negatives",
    5: "random negatives",
}
SETS = ("easy_positive", "hard_positive", "hard_negative", "token_negative", "random_negative")
NEGATIVE_SETS = ("hard_negative", "token_negative", "random_negative")
RELEVANT = 2  # "relevant" is grade 2 (Substitute) or better, as the curriculum reads it
LIMIT = 50

Row = TypeVar("Row")


@dataclass(frozen=True)
class Example:
    """A (query, product) pair with its set and what the cascade and the people said."""

    query_id: int
    product_id: int
    query: str
    title: str
    candidate_set: str | None
    cascade_grade: int | None
    human_grade: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class LevelExample:
    """One curriculum row: its query, positive and negative products, label, stage, split."""

    query: str
    positive: str | None
    negative: str | None
    label: float | None
    stage: int
    split: str


@dataclass
class Page(Generic[Row]):
    """Up to a page of rows, and how many there are in all (of which run)."""

    rows: list[Row] = field(default_factory=list)
    total: int = 0
    run_id: int | None = None


def _latest(engine: Engine, flow: Flow) -> int | None:
    run = latest_run(engine, flow)
    return None if run is None else run.id


def _cascade() -> Any:
    """The cascade's newest grade per pair, as a subquery (query_id, product_id, grade)."""
    newest = (
        select(func.max(Label.id).label("id"))
        .where(Label.status == "graded", Label.grade.is_not(None))
        .group_by(Label.query_id, Label.product_id)
        .subquery()
    )
    return (
        select(Label.query_id, Label.product_id, Label.grade)
        .join(newest, newest.c.id == Label.id)
        .subquery("cascade")
    )


def _people() -> Any:
    """The people's newest grade per pair (any source), as a subquery."""
    newest = (
        select(func.max(HumanLabel.id).label("id"))
        .group_by(HumanLabel.query_id, HumanLabel.product_id)
        .subquery()
    )
    return (
        select(HumanLabel.query_id, HumanLabel.product_id, HumanLabel.grade, HumanLabel.source)
        .join(newest, newest.c.id == HumanLabel.id)
        .subquery("people")
    )


def _page(engine: Engine, stmt: Select[Any], limit: int, run_id: int | None) -> Page[Example]:
    """Run a candidates statement (see :func:`_candidates`): a page of it, and its total."""
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = conn.execute(stmt.limit(limit)).all()
    return Page([Example(*r) for r in rows], int(total), run_id)


def _candidates(
    run_id: int, sets: Sequence[str], keep: Callable[[Any], Any] | None = None
) -> Select[Any]:
    """The mining run's candidates of ``sets`` with query, title, the cascade's and the
    people's grade; ``keep``: a condition on the cascade's grade."""
    cascade, people = _cascade(), _people()
    stmt = (
        select(
            Candidate.query_id,
            Candidate.product_id,
            Query.text,
            Product.title,
            Candidate.candidate_set,
            cascade.c.grade,
            people.c.grade,
            people.c.source,
        )
        .join(Query, Query.id == Candidate.query_id)
        .join(Product, Product.id == Candidate.product_id)
        .outerjoin(cascade, _same_pair(cascade, Candidate))
        .outerjoin(people, _same_pair(people, Candidate))
        .where(Candidate.run_id == run_id, Candidate.candidate_set.in_(sets))
        .order_by(Candidate.query_id, Candidate.product_id)
    )
    return stmt if keep is None else stmt.where(keep(cascade.c.grade))


def _same_pair(sub: Any, table: Any) -> Any:
    return and_(sub.c.query_id == table.query_id, sub.c.product_id == table.product_id)


def set_counts(engine: Engine) -> dict[str, int]:
    """Candidates per disagreement set in the latest mining run (empty: no run)."""
    run = _latest(engine, Flow.MINE)
    if run is None:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(Candidate.candidate_set, func.count())
            .where(Candidate.run_id == run)
            .group_by(Candidate.candidate_set)
        )
        return {name: int(n) for name, n in rows}


def by_set(engine: Engine, candidate_set: str, limit: int = LIMIT) -> Page[Example]:
    """The latest mining run's candidates of ``candidate_set``."""
    run = _latest(engine, Flow.MINE)
    if run is None:
        return Page()
    return _page(engine, _candidates(run, [candidate_set]), limit, run)


def promoted(engine: Engine, limit: int = LIMIT) -> Page[Example]:
    """Candidates mined as negatives that the cascade graded relevant."""
    run = _latest(engine, Flow.MINE)
    if run is None:
        return Page()
    stmt = _candidates(run, NEGATIVE_SETS, lambda grade: grade >= RELEVANT)
    return _page(engine, stmt, limit, run)


def demoted(engine: Engine, limit: int = LIMIT) -> Page[Example]:
    """Easy positives that the cascade graded not relevant."""
    run = _latest(engine, Flow.MINE)
    if run is None:
        return Page()
    stmt = _candidates(run, ["easy_positive"], lambda grade: grade < RELEVANT)
    return _page(engine, stmt, limit, run)


def disputed(engine: Engine, limit: int = LIMIT) -> Page[Example]:
    """Pairs a person and the cascade both graded, the furthest apart first (agreeing pairs
    left out)."""
    cascade, people = _cascade(), _people()
    gap = func.abs(people.c.grade - cascade.c.grade)
    stmt = (
        select(
            people.c.query_id,
            people.c.product_id,
            Query.text,
            Product.title,
            Candidate.candidate_set,
            cascade.c.grade,
            people.c.grade,
            people.c.source,
        )
        .join(cascade, _same_pair(cascade, people.c))
        .join(Query, Query.id == people.c.query_id)
        .join(Product, Product.id == people.c.product_id)
        .outerjoin(
            Candidate,
            and_(
                _same_pair(people, Candidate),
                Candidate.run_id == (_latest(engine, Flow.MINE) or -1),
            ),
        )
        .where(gap > 0)
        .order_by(gap.desc(), people.c.query_id, people.c.product_id)
    )
    return _page(engine, stmt, limit, None)


def level_counts(engine: Engine) -> dict[int, int]:
    """Un-augmented examples per level in the latest curriculum run (empty: no run)."""
    run = _latest(engine, Flow.CURRICULUM)
    if run is None:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            select(CurriculumExample.level, func.count())
            .where(CurriculumExample.run_id == run, CurriculumExample.augmented.is_(False))
            .group_by(CurriculumExample.level)
        )
        return {int(level): int(n) for level, n in rows}


def by_level(engine: Engine, level: int, limit: int = LIMIT) -> Page[LevelExample]:
    """The latest curriculum run's un-augmented examples of ``level``."""
    run = _latest(engine, Flow.CURRICULUM)
    if run is None:
        return Page()
    positive, negative = aliased(Product), aliased(Product)
    where = (
        CurriculumExample.run_id == run,
        CurriculumExample.level == level,
        CurriculumExample.augmented.is_(False),
    )
    stmt = (
        select(
            CurriculumExample.query_text,
            positive.title,
            negative.title,
            CurriculumExample.label,
            CurriculumExample.stage,
            CurriculumExample.split,
        )
        .outerjoin(positive, positive.id == CurriculumExample.positive_id)
        .outerjoin(negative, negative.id == CurriculumExample.negative_id)
        .where(*where)
        .order_by(CurriculumExample.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(CurriculumExample).where(*where))
        rows = conn.execute(stmt).all()
    return Page([LevelExample(*r) for r in rows], int(total or 0), run)


@dataclass(frozen=True)
class Hindsight:
    """A pair a person just graded: their grade, and the cascade's (None: it has none)."""

    query: str
    title: str
    grade: int
    cascade_grade: int | None


def hindsight(engine: Engine, reviewer_id: int, item_id: int) -> Hindsight | None:
    """What ``reviewer_id`` and the cascade said of queue pair ``item_id``; None unless this
    person holds a grade of it (the cascade's grade is shown only after one's own)."""
    with engine.connect() as conn:
        grade = current_grades(conn, [item_id]).get(item_id, {}).get(reviewer_id)
        if grade is None:
            return None
        row = conn.execute(
            select(ReviewItem.query_id, ReviewItem.product_id, Query.text, Product.title)
            .join(Query, Query.id == ReviewItem.query_id)
            .join(Product, Product.id == ReviewItem.product_id)
            .where(ReviewItem.id == item_id)
        ).one()
        cascade = cascade_grades(conn, [(row.query_id, row.product_id)])
    return Hindsight(row.text, row.title, grade, cascade.get((row.query_id, row.product_id)))
