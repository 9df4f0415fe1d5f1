"""People and sign-ins: tokens stored hashed, sessions with a CSRF token each."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from core.errors import DissentError
from review.people import (
    add_reviewer,
    authenticate,
    end_session,
    open_session,
    person_of_session,
    reviewers,
    token_hash,
)
from store.schema import Reviewer


def test_a_token_is_shown_once_and_stored_as_its_hash(engine: Engine) -> None:
    token = add_reviewer(engine, "ann")
    with engine.connect() as conn:
        stored = conn.scalar(select(Reviewer.token_hash))
    assert stored == token_hash(token) and token not in stored and len(token) >= 32
    assert authenticate(engine, token) is not None
    assert authenticate(engine, token + "x") is None and authenticate(engine, None) is None
    assert list(reviewers(engine).values()) == ["ann"]


@pytest.mark.parametrize("name", ["", "a b", "<script>", "x" * 65, "-lead"])
def test_names_are_short_plain_words(engine: Engine, name: str) -> None:
    with pytest.raises(DissentError, match="reviewer name"):
        add_reviewer(engine, name)


def test_a_name_is_taken_once(engine: Engine) -> None:
    add_reviewer(engine, "ann")
    with pytest.raises(DissentError, match="already a reviewer named 'ann'"):
        add_reviewer(engine, "ann")


def test_sessions_carry_their_own_csrf_token_and_end(engine: Engine) -> None:
    person = authenticate(engine, add_reviewer(engine, "bob"))
    assert person is not None
    first, csrf = open_session(engine, person)
    second, other = open_session(engine, person)
    assert first != second and csrf != other
    found = person_of_session(engine, first)
    assert found is not None and (found.name, found.csrf) == ("bob", csrf)
    end_session(engine, first)
    assert person_of_session(engine, first) is None
    assert person_of_session(engine, second) is not None
    assert person_of_session(engine, "forged") is None


def test_session_ids_are_stored_hashed_and_expire(engine: Engine) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from review.people import SESSION_DAYS
    from store.schema import ReviewSession, utcnow

    person = authenticate(engine, add_reviewer(engine, "cat"))
    assert person is not None
    session, _ = open_session(engine, person)
    with engine.connect() as conn:
        assert conn.scalar(select(ReviewSession.id)) == token_hash(session)
    old = utcnow() - timedelta(days=SESSION_DAYS + 1)
    with engine.begin() as conn:
        conn.execute(update(ReviewSession).values(created_at=old))
    assert person_of_session(engine, session) is None  # expired
    fresh, _ = open_session(engine, person)
    end_session(engine, fresh)  # signing out also forgets expired sessions
    with engine.connect() as conn:
        assert conn.scalar(select(ReviewSession.id)) is None
