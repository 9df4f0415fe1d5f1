"""A hand-built store: two queries, thirteen mined candidates, the cascade's labels.

The expected level of every candidate is written beside it (relevance cut-off 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, insert

from store.ledger import Flow, recorded_run
from store.schema import Candidate, Label, Product, Query, utcnow

CASCADE = "c" * 64

# product external id, title, query, sets (precedence order), grade (None: no label), status,
# expected level (None: left out) — with a reason
TABLE: list[tuple[str, str, str, tuple[str, ...], int | None, str | None, int | None]] = [
    ("p1", "DEWALT 20V MAX Cordless Drill", "q1", ("easy_positive",), 3, "graded", 1),
    ("p2", "Makita 18V Cordless Drill Driver", "q1", ("hard_positive",), 2, "graded", 2),
    ("p3", "Drill Bit Set 29 Piece", "q1", ("hard_negative",), 0, "graded", 3),
    ("p4", "Ryobi ONE+ Cordless Drill Kit", "q1", ("hard_negative",), 3, "graded", 2),  # promoted
    ("p5", "Cordless Phone with Answering Machine", "q1", ("token_negative",), 1, "graded", 4),
    ("p6", "Glacier Bay Kitchen Faucet", "q1", ("random_negative",), 0, "graded", 5),
    ("p7", "Drill Press Stand", "q1", ("easy_positive",), 0, "graded", None),  # demoted
    ("p8", "Drill Chuck Key", "q1", ("hard_positive", "hard_negative"), 1, "graded", 3),
    ("p9", "Hammer Drill Side Handle", "q1", ("hard_negative",), None, "failed", None),
    ("p10", "Cordless Leaf Blower", "q1", ("token_negative",), None, None, None),  # not run
    ("p11", "Flexzilla 50 ft. Garden Hose", "q2", ("easy_positive",), 3, "graded", 1),
    ("p12", "Interior Paint Satin White", "q2", ("random_negative",), 0, "graded", 5),
    ("p13", "Garden Rake 16 in.", "q2", ("token_negative",), 0, "graded", 4),
]
QUERIES = {"q1": "cordless drill", "q2": "garden hose"}


@dataclass
class HandStore:
    engine: Engine
    mining_run: int
    product: dict[str, int]  # external id -> id
    query: dict[str, int]

    def name(self, product_id: int) -> str:
        return next(k for k, v in self.product.items() if v == product_id)


@pytest.fixture
def hand_store(engine: Engine) -> HandStore:
    with recorded_run(engine, Flow.MINE, {}) as mined:
        mining = mined.id
    with recorded_run(engine, Flow.ANNOTATE, {}, mining_run_id=mining, cascade_id=CASCADE) as run:
        annotate = run.id
    with engine.begin() as conn:
        product = {
            ext: conn.execute(
                insert(Product).values(
                    external_id=ext, title=title, content_hash=f"h-{ext}", attributes={}, raw={}
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            for ext, title, *_ in TABLE
        }
        query = {
            ext: conn.execute(
                insert(Query).values(external_id=text, text=text)
            ).inserted_primary_key[0]  # type: ignore[index]
            for ext, text in QUERIES.items()
        }
        for ext, _, q, sets, grade, status, _ in TABLE:
            conn.execute(
                insert(Candidate).values(
                    run_id=mining,
                    query_id=query[q],
                    product_id=product[ext],
                    candidate_set=sets[0],
                    ranks={"sets": list(sets)},
                )
            )
            if status is not None:
                conn.execute(
                    insert(Label).values(
                        query_id=query[q],
                        product_id=product[ext],
                        product_hash=f"h-{ext}",
                        cascade_id=CASCADE,
                        grade=grade,
                        deciding_tier=None if grade is None else 1,
                        status=status,
                        run_id=annotate,
                        created_at=utcnow(),
                    )
                )
    return HandStore(engine, mining, product, query)
