"""Handing pairs to people and recording their grades, safely when many label at once.

A person asks for their next pair (:func:`next_task`): the one they hold, if any (a reload, or
tomorrow, resumes it), else the first queued pair that still wants a person and that this
person was never handed. A pair wanted from one person goes to one person at a time; an
overlap pair (``raters`` 2) to two. Nothing is shown twice to one person: a skipped or graded
pair is never handed back to them (but for :func:`undo`). A pair held longer than
``review.hold_minutes`` goes back to the queue; a grade that arrives later still counts.

Every change runs in one transaction that locks what it changes: on PostgreSQL the queue row
(``FOR UPDATE SKIP LOCKED``, so people never wait on each other's pairs), on SQLite a work lock
(:func:`store.locks.work_lock`). A grade submitted twice (a double click, a retried request)
is recorded once.

After every grade, undo and settlement the pair's *settled grade* is written to
``human_labels`` (source ``review.source``), which ``dissent calibrate`` reads: the grade when
its people agree (one person for most pairs, both for an overlap pair), the settled one after a
conflict (:mod:`review.agreement`); a pair whose people disagree stays out until settled.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, and_, delete, exists, func, insert, select, update

from core.errors import DissentError
from review.config import ReviewConfig
from review.verdicts import cascade_grades
from store.locks import work_lock
from store.schema import (
    HumanLabel,
    Product,
    Query,
    ReviewAssignment,
    ReviewItem,
    ReviewLabel,
    utcnow,
)

__all__ = ["Task", "next_task", "record_grade", "settle_item", "skip", "undo", "writing"]

MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class Task:
    """A pair as the page shows it (the cascade's grade is for after the person's own)."""

    item_id: int
    position: int
    raters: int
    query: str
    product: dict[str, Any]
    cascade_grade: int | None = None
    reason: dict[str, Any] = field(default_factory=dict)


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A transaction for a queue change: on SQLite under a work lock (one writer at a time),
    on PostgreSQL with row locks taken inside."""
    if engine.dialect.name == "sqlite":
        with work_lock(engine, "review-queue"), engine.begin() as conn:
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


def _expire(conn: Connection, hold_minutes: float) -> None:
    """Put pairs held longer than ``hold_minutes`` back in the queue."""
    cutoff = utcnow() - timedelta(minutes=hold_minutes)
    expired = conn.execute(
        update(ReviewAssignment)
        .where(ReviewAssignment.status == "open", ReviewAssignment.assigned_at < cutoff)
        .values(status="expired")
        .returning(ReviewAssignment.item_id)
    ).scalars()
    for item_id in list(expired):
        conn.execute(
            update(ReviewItem).where(ReviewItem.id == item_id).values(taken=ReviewItem.taken - 1)
        )


def _pick(conn: Connection, reviewer_id: int) -> int | None:
    """The first queued pair that wants a person and was never handed to this one (locked)."""
    mine = exists().where(
        ReviewAssignment.item_id == ReviewItem.id, ReviewAssignment.reviewer_id == reviewer_id
    )
    stmt = (
        select(ReviewItem.id)
        .where(ReviewItem.settled_grade.is_(None), ReviewItem.taken < ReviewItem.raters, ~mine)
        .order_by(ReviewItem.position)
        .limit(1)
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=ReviewItem)
    return conn.scalar(stmt)


def next_task(engine: Engine, reviewer_id: int, config: ReviewConfig) -> Task | None:
    """The pair this person should grade now (see the module docstring), or None when the
    queue holds nothing more for them."""
    with writing(engine) as conn:
        held = conn.scalar(
            select(ReviewAssignment.item_id)
            .where(ReviewAssignment.reviewer_id == reviewer_id, ReviewAssignment.status == "open")
            .order_by(ReviewAssignment.id)
            .limit(1)
        )
        if held is None:
            _expire(conn, config.hold_minutes)
            held = _pick(conn, reviewer_id)
            if held is None:
                return None
            conn.execute(
                insert(ReviewAssignment).values(
                    item_id=held, reviewer_id=reviewer_id, status="open"
                )
            )
            conn.execute(
                update(ReviewItem).where(ReviewItem.id == held).values(taken=ReviewItem.taken + 1)
            )
        return task_of(conn, held)


def task_of(conn: Connection, item_id: int) -> Task:
    """The pair ``item_id`` with its query and product fields, and the cascade's grade."""
    row = conn.execute(
        select(
            ReviewItem.id,
            ReviewItem.position,
            ReviewItem.raters,
            ReviewItem.reason,
            ReviewItem.query_id,
            ReviewItem.product_id,
            Query.text,
            Product.title,
            Product.brand,
            Product.product_type,
            Product.attributes,
            Product.description,
        )
        .join(Query, Query.id == ReviewItem.query_id)
        .join(Product, Product.id == ReviewItem.product_id)
        .where(ReviewItem.id == item_id)
    ).one()
    fields = {
        "title": row.title,
        "brand": row.brand,
        "product_type": row.product_type,
        "attributes": dict(row.attributes or {}),
        "description": row.description,
    }
    pair = (row.query_id, row.product_id)
    grade = cascade_grades(conn, [pair]).get(pair)
    return Task(row.id, row.position, row.raters, row.text, fields, grade, dict(row.reason or {}))


def _lock_item(conn: Connection, item_id: int) -> None:
    """Take the pair's queue row lock (PostgreSQL), so that changes to one pair's grades run
    one after the other: two people grading an overlap pair at once must each see the other's
    grade when settling it, or neither writes the agreed grade. (SQLite's work lock admits one
    writer at a time already.)"""
    if conn.dialect.name == "postgresql":
        conn.execute(select(ReviewItem.id).where(ReviewItem.id == item_id).with_for_update())


def _assignment(conn: Connection, item_id: int, reviewer_id: int) -> Row[int, str] | None:
    """This person's assignment of the pair (id, status), locked on PostgreSQL."""
    stmt = select(ReviewAssignment.id, ReviewAssignment.status).where(
        ReviewAssignment.item_id == item_id, ReviewAssignment.reviewer_id == reviewer_id
    )
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return conn.execute(stmt).first()


def record_grade(
    engine: Engine,
    reviewer_id: int,
    item_id: int,
    grade: int,
    config: ReviewConfig,
    *,
    note: str | None = None,
    seconds: float | None = None,
) -> bool:
    """Record this person's grade of a pair they were handed; False when the same grade was
    already recorded (a repeated submission writes nothing).

    Raises:
        DissentError: the grade is not 0-3, the note is too long, or the pair was not handed
            to this person.
    """
    if grade not in (0, 1, 2, 3):
        raise DissentError(f"a grade is 0, 1, 2 or 3, got {grade!r}")
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise DissentError(f"a note holds at most {MAX_NOTE_CHARS} characters")
    with writing(engine) as conn:
        _lock_item(conn, item_id)  # the pair, then this person's assignment: one order
        held = _assignment(conn, item_id, reviewer_id)
        if held is None:
            raise DissentError(f"pair {item_id} was not handed to you; ask for the next pair")
        if held.status == "done":
            return False
        if held.status != "open":  # expired or skipped: it counts again
            conn.execute(
                update(ReviewItem)
                .where(ReviewItem.id == item_id)
                .values(taken=ReviewItem.taken + 1)
            )
        conn.execute(
            update(ReviewAssignment).where(ReviewAssignment.id == held.id).values(status="done")
        )
        conn.execute(
            insert(ReviewLabel).values(
                item_id=item_id,
                reviewer_id=reviewer_id,
                grade=grade,
                note=note,
                seconds=seconds,
                undone=False,
            )
        )
        _settle_human_label(conn, item_id, config.source)
    return True


def skip(engine: Engine, reviewer_id: int, item_id: int) -> None:
    """Pass on a pair held: it goes to someone else, never back to this person."""
    with writing(engine) as conn:
        held = _assignment(conn, item_id, reviewer_id)
        if held is None or held.status != "open":
            return
        conn.execute(
            update(ReviewAssignment).where(ReviewAssignment.id == held.id).values(status="skipped")
        )
        conn.execute(
            update(ReviewItem).where(ReviewItem.id == item_id).values(taken=ReviewItem.taken - 1)
        )


def undo(engine: Engine, reviewer_id: int, config: ReviewConfig) -> int | None:
    """Take back this person's last grade: the pair is theirs to grade again, and its settled
    grade is recomputed. Returns the pair's item id (None: nothing to undo)."""
    with writing(engine) as conn:
        last = conn.execute(
            select(ReviewLabel.id, ReviewLabel.item_id)
            .where(ReviewLabel.reviewer_id == reviewer_id, ReviewLabel.undone.is_(False))
            .order_by(ReviewLabel.id.desc())
            .limit(1)
        ).first()
        if last is None:
            return None
        _lock_item(conn, last.item_id)
        conn.execute(update(ReviewLabel).where(ReviewLabel.id == last.id).values(undone=True))
        # theirs again, first in line: the pair on screen goes back unseen
        released = conn.execute(
            delete(ReviewAssignment)
            .where(
                ReviewAssignment.reviewer_id == reviewer_id,
                ReviewAssignment.status == "open",
                ReviewAssignment.item_id != last.item_id,
            )
            .returning(ReviewAssignment.item_id)
        ).scalars()
        touched = [last.item_id, *released]
        conn.execute(
            update(ReviewAssignment)
            .where(
                ReviewAssignment.item_id == last.item_id,
                ReviewAssignment.reviewer_id == reviewer_id,
            )
            .values(status="open", assigned_at=utcnow())
        )
        _recount(conn, touched)
        _settle_human_label(conn, last.item_id, config.source)
    return int(last.item_id)


def _recount(conn: Connection, item_ids: list[int]) -> None:
    """``taken`` of these items, whose assignments changed status outside the usual path (only
    these: recounting the whole queue took an undo 0.1-0.5 s under load)."""
    counted = (
        select(func.count())
        .where(
            ReviewAssignment.item_id == ReviewItem.id,
            ReviewAssignment.status.in_(("open", "done")),
        )
        .scalar_subquery()
    )
    conn.execute(
        update(ReviewItem)
        .where(ReviewItem.id.in_(item_ids), ReviewItem.taken != counted)
        .values(taken=counted)
    )


def settle_item(
    engine: Engine, reviewer_id: int, item_id: int, grade: int, config: ReviewConfig
) -> None:
    """Record the grade a conflict was settled at (by ``reviewer_id``).

    Raises:
        DissentError: the grade is not 0-3, or there is no such pair in the queue.
    """
    if grade not in (0, 1, 2, 3):
        raise DissentError(f"a grade is 0, 1, 2 or 3, got {grade!r}")
    with writing(engine) as conn:
        if conn.scalar(select(ReviewItem.id).where(ReviewItem.id == item_id)) is None:
            raise DissentError(f"there is no pair {item_id} in the review queue")
        conn.execute(
            update(ReviewItem)
            .where(ReviewItem.id == item_id)
            .values(settled_grade=grade, settled_by=reviewer_id)
        )
        _settle_human_label(conn, item_id, config.source)


def current_grades(
    conn: Connection, item_ids: list[int] | None = None
) -> dict[int, dict[int, int]]:
    """Per item, each person's current (not undone, latest) grade."""
    latest = select(func.max(ReviewLabel.id)).where(ReviewLabel.undone.is_(False))
    if item_ids is not None:
        latest = latest.where(ReviewLabel.item_id.in_(item_ids))
    rows = conn.execute(
        select(ReviewLabel.item_id, ReviewLabel.reviewer_id, ReviewLabel.grade).where(
            ReviewLabel.id.in_(latest.group_by(ReviewLabel.item_id, ReviewLabel.reviewer_id))
        )
    )
    found: dict[int, dict[int, int]] = {}
    for item, person, grade in rows:
        found.setdefault(item, {})[person] = grade
    return found


def _settle_human_label(conn: Connection, item_id: int, source: str) -> None:
    """Write (or take back) the pair's settled grade in ``human_labels``."""
    item = conn.execute(
        select(
            ReviewItem.query_id, ReviewItem.product_id, ReviewItem.raters, ReviewItem.settled_grade
        ).where(ReviewItem.id == item_id)
    ).one()
    grades = current_grades(conn, [item_id]).get(item_id, {})
    values = sorted(grades.values())
    if item.settled_grade is not None:
        grade: int | None = item.settled_grade
    elif len(values) >= item.raters and values and values[0] == values[-1]:
        grade = values[0]
    else:
        grade = None
    pair = and_(
        HumanLabel.query_id == item.query_id,
        HumanLabel.product_id == item.product_id,
        HumanLabel.source == source,
    )
    conn.execute(delete(HumanLabel).where(pair))
    if grade is not None:
        conn.execute(
            insert(HumanLabel).values(
                query_id=item.query_id,
                product_id=item.product_id,
                grade=grade,
                raw_label=str(grade),
                source=source,
                rater_spread=float(values[-1] - values[0]) if values else 0.0,
            )
        )
