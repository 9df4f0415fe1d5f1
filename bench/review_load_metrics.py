"""What the review load benchmark checks, from the simulated people's log and the store.

:func:`check` sets what each simulated person saw (a :class:`Call` per request) against what
the store holds afterwards (``review_labels``, ``review_assignments``, ``review_items``,
``human_labels``):

- **written**: grades in ``review_labels`` not undone;
- **lost**: grades the server answered ``{"recorded": true}`` for that the store does not hold
  (as a row for that person, pair and grade, undone or not); **unconfirmed**: rows no such
  answer stands for (a request that timed out but was written, say);
- **duplicated**: a person's grade of one pair recorded twice (two rows not undone), or a pair
  graded by more people than it wants (two for a single-rater pair);
- **double-handed**: a pair held by more people than it wants, either at the end
  (``review_assignments`` open or done beyond ``raters``) or at one moment by the people's own
  clocks: a person certainly held a pair from the answer that handed it to them to the sending
  of the grade or skip that gave it back (the server's hold spans at least that much), so two
  such spans overlapping on a single-rater pair cannot be explained by timing;
- **undo mismatches**: grades the people's own record of their undos says should stand (or
  not) that the store disagrees with;
- **human labels wrong**: pairs whose ``human_labels`` row (source ``review``) is not what the
  store's own grades settle to (one person's grade; both people's when they agree; the settled
  grade after a conflict; none while they disagree);
- **latency**: p50, p95, p99 and max of each kind of request, in milliseconds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from store.schema import HumanLabel, ReviewAssignment, ReviewItem, ReviewLabel

__all__ = ["Call", "LoadCheck", "check", "latency_ms"]


@dataclass(frozen=True)
class Call:
    """One request a simulated person made, as they saw it (times in monotonic seconds)."""

    person: int  # reviewer id
    action: str  # next, label, skip, undo
    status: int  # HTTP status; 0: no answer (a connection error or a timeout)
    sent: float
    answered: float
    item_id: int | None = None  # next: the pair handed; label, skip, undo: the pair
    grade: int | None = None
    recorded: bool | None = None  # label: what the server answered


@dataclass
class LoadCheck:
    """What :func:`check` found (see the module docstring)."""

    written: int = 0
    lost: int = 0
    unconfirmed: int = 0
    duplicated: int = 0
    same_person_twice: int = 0
    more_people_than_wanted: int = 0
    double_handed: int = 0
    double_handed_at_end: int = 0
    double_handed_at_once: int = 0
    undo_mismatches: int = 0
    human_labels_wrong: int = 0
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # a few of each
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)


def latency_ms(calls: Sequence[Call], action: str) -> dict[str, float]:
    """p50, p95, p99 and max of the answered ``action`` requests, in ms (empty when none)."""
    times = [1000 * (c.answered - c.sent) for c in calls if c.action == action and c.status]
    if not times:
        return {}
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    return {
        "n": len(times),
        "p50": round(float(p50), 1),
        "p95": round(float(p95), 1),
        "p99": round(float(p99), 1),
        "max": round(max(times), 1),
    }


def _store_state(engine: Engine, source: str) -> dict[str, Any]:
    with engine.connect() as conn:
        items = {
            r.id: r
            for r in conn.execute(
                select(
                    ReviewItem.id,
                    ReviewItem.query_id,
                    ReviewItem.product_id,
                    ReviewItem.raters,
                    ReviewItem.settled_grade,
                )
            )
        }
        labels = conn.execute(
            select(
                ReviewLabel.id,
                ReviewLabel.reviewer_id,
                ReviewLabel.item_id,
                ReviewLabel.grade,
                ReviewLabel.undone,
            ).order_by(ReviewLabel.id)
        ).all()
        assignments = conn.execute(select(ReviewAssignment.item_id, ReviewAssignment.status)).all()
        human = {
            (r.query_id, r.product_id): r.grade
            for r in conn.execute(
                select(HumanLabel.query_id, HumanLabel.product_id, HumanLabel.grade).where(
                    HumanLabel.source == source
                )
            )
        }
    return {"items": items, "labels": labels, "assignments": assignments, "human": human}


def _excess(counter: Counter[Any], other: Counter[Any]) -> int:
    return sum(max(0, n - other.get(key, 0)) for key, n in counter.items())


def _confirmed(calls: Sequence[Call]) -> tuple[Counter[Any], Counter[Any]]:
    """Grades the server said it recorded, and those that should stand after the undos the
    server reported (the person's latest standing grade is the one an undo takes back)."""
    recorded: Counter[Any] = Counter()
    standing: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for call in sorted(calls, key=lambda c: c.answered):
        took_back = call.action == "undo" and call.status == 200 and call.item_id is not None
        if call.action == "label" and call.status == 200 and call.recorded:
            recorded[(call.person, call.item_id, call.grade)] += 1
            standing[call.person].append((call.item_id or 0, call.grade or 0))
        elif took_back and standing[call.person]:
            standing[call.person].pop()
    expected = Counter((p, i, g) for p, grades in standing.items() for i, g in grades)
    return recorded, expected


def _held_at_once(calls: Sequence[Call], raters: dict[int, int], end: float) -> set[int]:
    """Pairs held by more people than they want at one moment, by the people's clocks."""
    spans: dict[int, list[tuple[float, float, int]]] = defaultdict(list)
    holding: dict[tuple[int, int], float] = {}
    for call in sorted(calls, key=lambda c: c.sent):
        if call.action == "next" and call.status == 200 and call.item_id is not None:
            holding.setdefault((call.person, call.item_id), call.answered)
        elif call.action in ("label", "skip") and call.item_id is not None:
            start = holding.pop((call.person, call.item_id), None)
            if start is not None and start < call.sent:
                spans[call.item_id].append((start, call.sent, call.person))
    for (person, item), start in holding.items():
        spans[item].append((start, end, person))
    found = set()
    for item, held in spans.items():
        moments = sorted([(s, 1) for s, _, _ in held] + [(e, -1) for _, e, _ in held])
        level = 0
        for _, step in moments:  # an end sorts before a start at the same moment
            level += step
            if level > raters.get(item, 1):
                found.add(item)
                break
    return found


def _settled(item: Any, grades: dict[int, int]) -> int | None:
    """The grade a pair settles to from its people's standing grades (see the docstring)."""
    if item.settled_grade is not None:
        return int(item.settled_grade)
    values = set(grades.values())
    return values.pop() if len(grades) >= item.raters and len(values) == 1 else None


def check(
    engine: Engine, calls: Sequence[Call], *, source: str = "review", end: float | None = None
) -> LoadCheck:
    """Compare the people's log with the store (see the module docstring).

    Args:
        engine: the store the server wrote.
        calls: every request the people made.
        source: the ``human_labels`` source the page writes.
        end: when the run ended (monotonic seconds; default the last answer): a pair still
            held was held until then.
    """
    state = _store_state(engine, source)
    items, found = state["items"], LoadCheck()
    rows = state["labels"]
    standing = [r for r in rows if not r.undone]
    found.written = len(standing)
    recorded, expected = _confirmed(calls)
    stored = Counter((r.reviewer_id, r.item_id, r.grade) for r in rows)
    found.lost, found.unconfirmed = _excess(recorded, stored), _excess(stored, recorded)
    now = Counter((r.reviewer_id, r.item_id, r.grade) for r in standing)
    found.undo_mismatches = _excess(expected, now) + _excess(now, expected)

    per_person = Counter((r.reviewer_id, r.item_id) for r in standing)
    found.same_person_twice = sum(n - 1 for n in per_person.values() if n > 1)
    people: dict[int, dict[int, int]] = defaultdict(dict)
    for r in standing:  # ordered by id: a person's latest grade wins
        people[r.item_id][r.reviewer_id] = r.grade
    found.more_people_than_wanted = sum(
        max(0, len(by) - items[item].raters) for item, by in people.items()
    )
    found.duplicated = found.same_person_twice + found.more_people_than_wanted

    held = Counter(a.item_id for a in state["assignments"] if a.status in ("open", "done"))
    at_end = {item for item, n in held.items() if n > items[item].raters}
    raters = {item: row.raters for item, row in items.items()}
    last = max((c.answered for c in calls), default=0.0)
    at_once = _held_at_once(calls, raters, last if end is None else end)
    found.double_handed_at_end, found.double_handed_at_once = len(at_end), len(at_once)
    found.double_handed = len(at_end | at_once)

    wrong = []
    for item_id, item in items.items():
        want = _settled(item, people.get(item_id, {}))
        stored_grade = state["human"].get((item.query_id, item.product_id))
        if stored_grade != want:
            found.human_labels_wrong += 1
            wrong.append(
                {
                    "item": item_id,
                    "raters": item.raters,
                    "grades": people.get(item_id, {}),
                    "settles_to": want,
                    "human_label": stored_grade,
                }
            )
    found.examples = {
        "human_labels_wrong": wrong[:5],
        "double_handed": [{"item": i, "raters": raters[i]} for i in sorted(at_end | at_once)][:5],
        "same_person_twice": [
            {"person": p, "item": i, "rows": n} for (p, i), n in per_person.items() if n > 1
        ][:5],
    }

    statuses: dict[str, Counter[int]] = defaultdict(Counter)
    for call in calls:
        statuses[call.action][call.status] += 1
    found.statuses = {a: {str(s): n for s, n in sorted(c.items())} for a, c in statuses.items()}
    found.latency_ms = {a: latency_ms(calls, a) for a in ("next", "label", "skip", "undo")}
    return found
