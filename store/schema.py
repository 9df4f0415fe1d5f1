"""The database schema: one table per noun of the pipeline (see DESIGN.md, "Data model").

Tables, in pipeline order:

- ``products`` and ``queries``: what is searched and what is searched for. A product keeps its
  raw input fields and a content hash over the fields the models see; a changed product gets
  a new hash, so judgments made on the old content stop being cache hits.
- ``human_labels``: human relevance judgments on the internal 0–3 scale, with the raw label.
- ``runs``: the ledger; one row per unit of work (ingest, mine, annotate, ...) with its lineage.
- ``ranked_lists``: each channel's top-K (product ids and scores, best first) per query for one
  mining run, one row per (run, query, channel); :mod:`store.ranked` reads and writes them.
- ``candidates``: the disagreement sets of one mining run.
- ``judgments``: one row per model call result, never overwritten.
- ``labels``: the cascade's verdict per pair.
- ``calibrations``: fitted per-class isotonic maps and acceptance thresholds per tier.
- ``curriculum_examples``: the graded pairs placed in levels, stages and splits.
- ``reviewers``, ``review_sessions``, ``review_items``, ``review_assignments`` and
  ``review_labels``: the labelling page's people, their sign-ins, its queue, who holds which
  pair, and every grade a person gave (:mod:`review`); a pair's settled grade goes to
  ``human_labels`` with source ``review``.

The catalog channel's full-text tables (``catalog_search_fts`` on SQLite, ``catalog_search`` on
PostgreSQL) are created by migration 0002 and filled by :mod:`miners.catalog`; they are not
models here, because their types (FTS5, a generated ``tsvector``) exist on one dialect each.

JSON columns use SQLAlchemy's generic ``JSON`` (``jsonb`` on PostgreSQL through the variant).
Migrations live in ``store/migrations`` (Alembic); :func:`store.db.upgrade` applies them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "CANDIDATE_SETS",
    "Base",
    "Calibration",
    "Candidate",
    "CurriculumExample",
    "HumanLabel",
    "Judgment",
    "Label",
    "Product",
    "Query",
    "RankedList",
    "ReviewAssignment",
    "ReviewItem",
    "ReviewLabel",
    "ReviewSession",
    "Reviewer",
    "Run",
]

JSONType = JSON().with_variant(JSONB(), "postgresql")

# The disagreement sets a candidate can belong to (``candidates.candidate_set``), in precedence
# order.
CANDIDATE_SETS = (
    "easy_positive",
    "hard_positive",
    "hard_negative",
    "token_negative",
    "random_negative",
)

# Stable constraint names so that Alembic migrations read the same on every dialect.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time in UTC (timezone-aware)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONType, list[Any]: JSONType}


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    brand: Mapped[str | None] = mapped_column(String(255))
    product_type: Mapped[str | None] = mapped_column(String(255))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Query(Base):
    __tablename__ = "queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    text: Mapped[str] = mapped_column(Text)
    frequency: Mapped[int | None] = mapped_column(Integer)
    segment: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class HumanLabel(Base):
    __tablename__ = "human_labels"
    __table_args__ = (UniqueConstraint("query_id", "product_id", "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    grade: Mapped[int] = mapped_column(Integer)
    raw_label: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(255))
    rater_spread: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Run(Base):
    """One unit of work in the ledger (:mod:`store.ledger` writes and reads these).

    The lineage columns say what a run was made from: ``fingerprint`` (a hash of its inputs,
    mining, curriculum and train runs), ``mining_run_id`` (annotate and curriculum runs),
    ``calibration_run_id`` and ``cascade_id`` (annotate runs; curriculum runs carry the
    cascade too), ``curriculum_run_id`` (exports, and train runs: the export's curriculum),
    ``export_run_id`` (train runs: the export they trained on).
    """

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)
    mining_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    calibration_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    cascade_id: Mapped[str | None] = mapped_column(String(64))
    curriculum_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    export_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cost: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RankedList(Base):
    """One channel's top-K for one query of one mining run: a whole ranked list in one row.

    ``product_ids`` holds the ids best first as little-endian int64, ``scores`` the channel's
    scores in the same order as little-endian float32 (:mod:`store.ranked` encodes and decodes
    them). One row per list instead of one per retrieval: Home Depot's 11,795 queries x 3
    channels x top-500 are 35,385 rows, not up to 17.7 million, and mining writes them in
    seconds.
    What later stages query by pair (each channel's rank of a candidate) is in ``candidates``.
    """

    __tablename__ = "ranked_lists"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    length: Mapped[int] = mapped_column(Integer)
    product_ids: Mapped[bytes] = mapped_column(LargeBinary)
    scores: Mapped[bytes] = mapped_column(LargeBinary)


class Candidate(Base):
    """A mined (query, product) pair and the disagreement set it fell into.

    ``ranks`` holds each channel's rank (absent when the channel did not retrieve it), every
    set the pair qualified for (``sets``) and, for token-similar negatives, the TF-IDF score.
    """

    __tablename__ = "candidates"
    __table_args__ = (Index("ix_candidates_run_set", "run_id", "candidate_set"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    candidate_set: Mapped[str] = mapped_column(String(32))
    ranks: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Judgment(Base):
    """One model call's result. Rows are appended, never overwritten.

    A successful row (``error`` is null) for the same query, product content, model and
    prompt is a cache hit; failed attempts are kept beside it with their raw text and reason.
    """

    __tablename__ = "judgments"
    __table_args__ = (
        UniqueConstraint("query_id", "product_hash", "model_id", "prompt_hash", "attempt"),
        Index("ix_judgments_pair", "query_id", "product_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_hash: Mapped[str] = mapped_column(String(64))
    tier: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str] = mapped_column(String(255))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    distribution: Mapped[list[Any] | None] = mapped_column(JSONType)
    grade: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)
    accepted: Mapped[bool | None] = mapped_column(Boolean)
    raw_response: Mapped[str | None] = mapped_column(Text)
    tokens_in: Mapped[int] = mapped_column(Integer, default=0)
    tokens_out: Mapped[int] = mapped_column(Integer, default=0)
    latency_s: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Label(Base):
    """The cascade's verdict on one pair (for one product content and cascade)."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("query_id", "product_id", "product_hash", "cascade_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_hash: Mapped[str] = mapped_column(String(64))
    cascade_id: Mapped[str] = mapped_column(String(64))
    grade: Mapped[int | None] = mapped_column(Integer)
    deciding_tier: Mapped[int | None] = mapped_column(Integer)
    confidence: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="graded")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Calibration(Base):
    __tablename__ = "calibrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tier: Mapped[int] = mapped_column(Integer)
    model_id: Mapped[str] = mapped_column(String(255))
    prompt_hash: Mapped[str] = mapped_column(String(64))
    isotonic: Mapped[dict[str, Any]] = mapped_column(default=dict)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fitted_on: Mapped[dict[str, Any]] = mapped_column(default=dict)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CurriculumExample(Base):
    __tablename__ = "curriculum_examples"
    __table_args__ = (Index("ix_curriculum_examples_run_stage", "run_id", "stage", "split"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    level: Mapped[int] = mapped_column(Integer)
    stage: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(16))
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    query_text: Mapped[str] = mapped_column(Text)
    augmented: Mapped[bool] = mapped_column(Boolean, default=False)
    positive_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    negative_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    label: Mapped[float | None] = mapped_column(Float)


class Reviewer(Base):
    """A person who labels on the review page; the token is kept only as its SHA-256."""

    __tablename__ = "reviewers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewSession(Base):
    """A signed-in browser: the cookie holds ``id`` (random), forms carry ``csrf``."""

    __tablename__ = "review_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewItem(Base):
    """A pair in the labelling queue: in ``position`` order, wanted from ``raters`` people;
    ``taken`` counts its open and done assignments (a row lock guards it)."""

    __tablename__ = "review_items"
    __table_args__ = (UniqueConstraint("query_id", "product_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    query_id: Mapped[int] = mapped_column(ForeignKey("queries.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    position: Mapped[int] = mapped_column(Integer, index=True)
    raters: Mapped[int] = mapped_column(Integer, default=1)
    taken: Mapped[int] = mapped_column(Integer, default=0)  # open or done assignments
    strategy: Mapped[str] = mapped_column(String(32))
    reason: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    settled_grade: Mapped[int | None] = mapped_column(Integer)
    settled_by: Mapped[int | None] = mapped_column(ForeignKey("reviewers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewAssignment(Base):
    """Who was handed which pair: ``open`` while they hold it, then ``done`` or ``skipped``."""

    __tablename__ = "review_assignments"
    __table_args__ = (UniqueConstraint("item_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    assigned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReviewLabel(Base):
    """One grade a person gave a pair on the page; an undone one is kept, marked ``undone``."""

    __tablename__ = "review_labels"
    __table_args__ = (Index("ix_review_labels_item", "item_id", "reviewer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("review_items.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("reviewers.id"))
    grade: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    undone: Mapped[bool] = mapped_column(Boolean, default=False)
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
