"""What the cascade said of pairs, as the store holds it: its grades and tier 1's distributions.

The review page reads these, never the models: ``labels`` (the cascade's verdict per pair, the
latest cascade's where several graded it) and ``judgments`` of tier 1 (its grade distribution,
which the active queue turns into uncertainty).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, select, tuple_

from store.schema import Judgment, Label

__all__ = ["cascade_grades", "tier1_distributions"]

Pair = tuple[int, int]


def cascade_grades(conn: Connection, pairs: Sequence[Pair] | None = None) -> dict[Pair, int]:
    """The cascade's latest grade per (query, product) pair, of ``pairs`` or of every pair."""
    newest = select(func.max(Label.id)).where(Label.status == "graded", Label.grade.is_not(None))
    if pairs is not None:
        if not pairs:
            return {}
        newest = newest.where(tuple_(Label.query_id, Label.product_id).in_(list(pairs)))
    rows = conn.execute(
        select(Label.query_id, Label.product_id, Label.grade).where(
            Label.id.in_(newest.group_by(Label.query_id, Label.product_id))
        )
    )
    return {(q, p): int(g) for q, p, g in rows if g is not None}


def tier1_distributions(conn: Connection) -> dict[Pair, list[float]]:
    """Tier 1's latest answered grade distribution per pair."""
    latest = (
        select(func.max(Judgment.id))
        .where(Judgment.tier == 1, Judgment.error.is_(None))
        .group_by(Judgment.query_id, Judgment.product_id)
    )
    rows = conn.execute(
        select(Judgment.query_id, Judgment.product_id, Judgment.distribution).where(
            Judgment.id.in_(latest)
        )
    )
    return {(q, p): [float(x) for x in d] for q, p, d in rows if d}
