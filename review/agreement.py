"""How far people agree with each other and with the cascade, and the conflicts to settle.

On the pairs two people both graded (the overlap share of the queue), each pair of people
gets quadratic-weighted kappa (QWK) and exact agreement, and all people together
Krippendorff's α (ordinal). Beside them, each person against the cascade on the pairs the
person graded and the cascade labelled. A *conflict* is a pair whose people gave different
grades and that nobody settled yet; settling it (:func:`review.labelling.settle_item`)
writes the settled grade to ``human_labels``.

Example:
    >>> round(qwk([0, 1, 2, 3], [0, 1, 2, 3]), 3), round(qwk([0, 0, 3, 3], [0, 1, 2, 3]), 3)
    (1.0, 0.857)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations

from sqlalchemy import Engine, select

from review.labelling import current_grades
from review.people import reviewers
from review.verdicts import cascade_grades
from store.schema import Product, Query, ReviewItem

__all__ = ["Agreement", "Conflict", "PairAgreement", "agreement", "conflicts", "qwk"]


def qwk(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Quadratic-weighted kappa of two graders on the 0–3 scale (None: undefined, e.g. one
    grade only)."""
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2 or len(set(a) | set(b)) < 2:
        return None
    value = cohen_kappa_score(a, b, weights="quadratic", labels=[0, 1, 2, 3])
    return None if value != value else float(value)  # NaN: no variance


@dataclass(frozen=True)
class PairAgreement:
    """Two graders (two people, or a person and the cascade) on the pairs both graded."""

    first: str
    second: str
    pairs: int
    qwk: float | None
    exact: float | None


@dataclass
class Agreement:
    """People against each other, all of them together, and each against the cascade."""

    people: list[PairAgreement] = field(default_factory=list)
    alpha: float | None = None
    alpha_pairs: int = 0
    cascade: list[PairAgreement] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)


def _pair(first: str, second: str, a: list[int], b: list[int]) -> PairAgreement:
    exact = sum(x == y for x, y in zip(a, b, strict=True)) / len(a) if a else None
    return PairAgreement(first, second, len(a), qwk(a, b), exact)


def _alpha(grades: dict[int, dict[int, int]], people: list[int]) -> float | None:
    import krippendorff
    import numpy as np

    shared = [g for g in grades.values() if len(g) >= 2]
    if len(shared) < 2:
        return None
    data = np.array(
        [[g.get(p, np.nan) for g in shared] for p in people], dtype=float
    )  # raters x items
    try:
        value = krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")
    except ValueError:  # one value only: no variation to measure against
        return None
    return None if value != value else float(value)


def agreement(engine: Engine) -> Agreement:
    """People against each other and against the cascade (see the module docstring)."""
    names = reviewers(engine)
    with engine.connect() as conn:
        grades = current_grades(conn)
        items = select(ReviewItem.id, ReviewItem.query_id, ReviewItem.product_id)
        pairs = {i: (q, p) for i, q, p in conn.execute(items)}
        cascade = cascade_grades(conn, list(pairs.values()))
    people = sorted({p for g in grades.values() for p in g})
    found = Agreement(labels={names[p]: sum(p in g for g in grades.values()) for p in people})
    for x, y in combinations(people, 2):
        both = [g for g in grades.values() if x in g and y in g]
        found.people.append(_pair(names[x], names[y], [g[x] for g in both], [g[y] for g in both]))
    found.alpha = _alpha(grades, people)
    found.alpha_pairs = sum(len(g) >= 2 for g in grades.values())
    for person in people:
        mine = [
            (g[person], cascade[pairs[i]])
            for i, g in grades.items()
            if person in g and pairs[i] in cascade
        ]
        found.cascade.append(
            _pair(names[person], "cascade", [a for a, _ in mine], [b for _, b in mine])
        )
    return found


@dataclass(frozen=True)
class Conflict:
    """A pair its people graded differently, waiting to be settled."""

    item_id: int
    query: str
    title: str
    grades: dict[str, int]
    cascade_grade: int | None


def conflicts(engine: Engine) -> list[Conflict]:
    """Every unsettled pair whose people disagree, the widest disagreements first."""
    names = reviewers(engine)
    with engine.connect() as conn:
        grades = current_grades(conn)
        split = [i for i, g in grades.items() if len(set(g.values())) > 1]
        if not split:
            return []
        rows = conn.execute(
            select(
                ReviewItem.id, ReviewItem.query_id, ReviewItem.product_id, Query.text, Product.title
            )
            .join(Query, Query.id == ReviewItem.query_id)
            .join(Product, Product.id == ReviewItem.product_id)
            .where(ReviewItem.id.in_(split), ReviewItem.settled_grade.is_(None))
        ).all()
        cascade = cascade_grades(conn, [(r.query_id, r.product_id) for r in rows])
    found = [
        Conflict(
            r.id,
            r.text,
            r.title,
            {names[p]: g for p, g in sorted(grades[r.id].items())},
            cascade.get((r.query_id, r.product_id)),
        )
        for r in rows
    ]
    spread = lambda c: max(c.grades.values()) - min(c.grades.values())  # noqa: E731
    return sorted(found, key=lambda c: (-spread(c), c.item_id))
