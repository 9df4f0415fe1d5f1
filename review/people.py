"""People on the review page: who they are, their tokens, and their signed-in browsers.

A person is added with ``dissent review add-user NAME``, which prints a fresh random token
once; the store keeps only its SHA-256. Signing in with the token opens a session: a random
id for the cookie (the store keeps its SHA-256 too) and a CSRF token every form and ``POST``
must carry; a session ends when its person signs out, or :data:`SESSION_DAYS` after it began.
An API client may send the token itself (``Authorization: Bearer``) instead.

Example:
    >>> from store.db import open_store
    >>> engine = open_store("sqlite://")
    >>> token = add_reviewer(engine, "ann")
    >>> authenticate(engine, token).name, authenticate(engine, "wrong")
    ('ann', None)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine, delete, insert, select

from core.errors import DissentError
from store.schema import Reviewer, ReviewSession, utcnow

__all__ = [
    "SESSION_DAYS",
    "Person",
    "add_reviewer",
    "authenticate",
    "end_session",
    "open_session",
    "person_of_session",
    "reviewers",
    "token_hash",
]

SESSION_DAYS = 30
"""How long a signed-in browser stays signed in."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Person:
    """A signed-in person: id and name, and the session's CSRF token (None for API tokens)."""

    id: int
    name: str
    csrf: str | None = None


def token_hash(token: str) -> str:
    """The SHA-256 of a token, as the store keeps it."""
    return hashlib.sha256(token.encode()).hexdigest()


def add_reviewer(engine: Engine, name: str) -> str:
    """Add a person and return their token (shown once; only its hash is stored).

    Raises:
        DissentError: the name is not 1-64 letters, digits, dots, dashes or underscores, or
            is taken.
    """
    if not _NAME.match(name):
        raise DissentError(
            f"reviewer name {name!r}: use 1-64 letters, digits, '.', '-' or '_', starting with "
            "a letter or digit"
        )
    token = secrets.token_urlsafe(24)
    with engine.begin() as conn:
        if conn.scalar(select(Reviewer.id).where(Reviewer.name == name)) is not None:
            raise DissentError(f"there is already a reviewer named {name!r}")
        conn.execute(insert(Reviewer).values(name=name, token_hash=token_hash(token), active=True))
    return token


def reviewers(engine: Engine) -> dict[int, str]:
    """Every reviewer's name by id."""
    with engine.connect() as conn:
        return dict(conn.execute(select(Reviewer.id, Reviewer.name).order_by(Reviewer.id)).all())


def authenticate(engine: Engine, token: str | None) -> Person | None:
    """The active person whose token this is, or None."""
    if not token:
        return None
    digest = token_hash(token)
    with engine.connect() as conn:
        row = conn.execute(
            select(Reviewer.id, Reviewer.name, Reviewer.token_hash).where(
                Reviewer.token_hash == digest, Reviewer.active.is_(True)
            )
        ).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Person(row.id, row.name)


def open_session(engine: Engine, person: Person) -> tuple[str, str]:
    """A new session for ``person``: (session id for the cookie, CSRF token)."""
    session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(ReviewSession).values(id=token_hash(session), reviewer_id=person.id, csrf=csrf)
        )
    return session, csrf


def person_of_session(engine: Engine, session: str | None) -> Person | None:
    """The person a session cookie belongs to (with the session's CSRF token), or None."""
    if not session:
        return None
    since = utcnow() - timedelta(days=SESSION_DAYS)
    with engine.connect() as conn:
        row = conn.execute(
            select(Reviewer.id, Reviewer.name, ReviewSession.csrf)
            .join(ReviewSession, ReviewSession.reviewer_id == Reviewer.id)
            .where(
                ReviewSession.id == token_hash(session),
                ReviewSession.created_at >= since,
                Reviewer.active.is_(True),
            )
        ).first()
    return None if row is None else Person(row.id, row.name, row.csrf)


def end_session(engine: Engine, session: str) -> None:
    """Sign a browser out (and forget every session past :data:`SESSION_DAYS`)."""
    since = utcnow() - timedelta(days=SESSION_DAYS)
    with engine.begin() as conn:
        conn.execute(
            delete(ReviewSession).where(
                (ReviewSession.id == token_hash(session)) | (ReviewSession.created_at < since)
            )
        )
