"""How far the labelling has come: per person, in all, against the target, and at what pace."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Engine, func, select

from review.config import ReviewConfig
from review.people import reviewers
from store.schema import HumanLabel, ReviewItem, ReviewLabel, utcnow

__all__ = ["Progress", "progress"]


@dataclass
class Progress:
    """Labels given (not undone), per person and in all; the queue; this person's pace."""

    target: int
    labels: int = 0
    settled_pairs: int = 0
    per_person: dict[str, int] = field(default_factory=dict)
    mine: int = 0
    mine_last_hour: int = 0
    median_seconds: float | None = None
    waiting: int = 0  # queued pairs that still want a person

    @property
    def share(self) -> float:
        """Labels given of the target, at most 1."""
        return min(1.0, self.labels / self.target) if self.target else 1.0


def progress(engine: Engine, reviewer_id: int | None, config: ReviewConfig) -> Progress:
    """The labelling's progress, and ``reviewer_id``'s own (None: nobody's)."""
    names = reviewers(engine)
    found = Progress(config.target)
    hour_ago = utcnow() - timedelta(hours=1)
    live = ReviewLabel.undone.is_(False)
    with engine.connect() as conn:
        for person, count in conn.execute(
            select(ReviewLabel.reviewer_id, func.count())
            .where(live)
            .group_by(ReviewLabel.reviewer_id)
        ):
            found.per_person[names[person]] = int(count)
        found.labels = sum(found.per_person.values())
        found.settled_pairs = int(
            conn.scalar(
                select(func.count())
                .select_from(HumanLabel)
                .where(HumanLabel.source == config.source)
            )
            or 0
        )
        found.waiting = int(
            conn.scalar(
                select(func.count())
                .select_from(ReviewItem)
                .where(ReviewItem.taken < ReviewItem.raters, ReviewItem.settled_grade.is_(None))
            )
            or 0
        )
        if reviewer_id is not None:
            found.mine = found.per_person.get(names.get(reviewer_id, ""), 0)
            recent = (
                conn.execute(
                    select(ReviewLabel.seconds).where(
                        live,
                        ReviewLabel.reviewer_id == reviewer_id,
                        ReviewLabel.created_at >= hour_ago,
                    )
                )
                .scalars()
                .all()
            )
            found.mine_last_hour = len(recent)
            timed = [s for s in recent if s is not None]
            found.median_seconds = statistics.median(timed) if timed else None
    return found
