"""The ``review`` section: where the page listens, what it queues, and how people share it."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import Field

from core.config import Section
from store.splits import SplitsConfig

__all__ = ["ReviewConfig", "ReviewSettings", "Strategy"]

Strategy = Literal["active", "stratified", "random"]


class ReviewConfig(Section):
    """``dissent review``: the labelling and review page (``review``)."""

    host: str = Field(
        default="127.0.0.1", description="address to listen on; loopback unless you mean it"
    )
    port: int = Field(default=8765, ge=1, le=65535, description="port to listen on")
    target: int = Field(
        default=500, ge=1, description="labels wanted: the progress goal and what `fill` queues"
    )
    strategy: Strategy = Field(
        default="active",
        description=(
            "how pairs are chosen: active (tier-1 uncertainty, every set and grade covered, "
            "spread over queries), stratified (as active, random within each cell) or random"
        ),
    )
    overlap_share: float = Field(
        default=0.1, ge=0, le=1, description="share of queued pairs graded by two people"
    )
    per_query: int = Field(
        default=2, ge=1, description="at most this many queued pairs per query (not random)"
    )
    seed: int = Field(default=0, description="seeds the queue's choices and overlap")
    show_cascade: bool = Field(
        default=False,
        description="after a person grades a pair, show what the cascade said (never before)",
    )
    hold_minutes: float = Field(
        default=20, gt=0, description="an unanswered pair goes back to the queue after this"
    )
    source: str = Field(
        default="review", description="human_labels source of the grades settled on the page"
    )


class ReviewSettings(Protocol):
    """What the review page reads of the pipeline configuration."""

    review: ReviewConfig
    splits: SplitsConfig
