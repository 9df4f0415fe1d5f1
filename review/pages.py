"""The pages people label on: signing in and out, the start page, and the labelling queue.

The queue page shows one pair (the query and the product: title, brand, type, attributes,
description), four grade buttons named by the rubric, a note, skip and undo, and the progress:
labels of the target, per person, and this person's pace. The cascade's grade is never on it
before the person grades the pair; with ``review.show_cascade`` the next page says what the
cascade said of the pair just graded. Each form also carries the time it was served, so the
seconds a person spent on a pair are recorded with the grade.

Every form works by clicking; ``static/review.js`` only adds keys (0–3, s, u, ?) that submit
the same forms.
"""

from __future__ import annotations

import secrets
import time

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.errors import DissentError
from review.labelling import MAX_NOTE_CHARS, next_task, record_grade, skip, undo
from review.people import Person, authenticate, end_session, open_session, person_of_session
from review.progress import progress
from review.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Form,
    Signed,
    cookie_options,
    page_person,
    read_form,
    same_secret,
    signed_form,
)
from review.views import LEVELS, hindsight, level_counts, set_counts
from review.web import render, site

__all__ = ["router"]

router = APIRouter()
MAX_SECONDS = 24 * 3600.0  # longer than a day on one pair: the page was left open, not read


def to_int(text: str, what: str) -> int:
    """A form field as an integer, or 422 naming it."""
    try:
        return int(text)
    except ValueError:
        raise HTTPException(422, f"{what} must be a whole number, got {text[:20]!r}") from None


def _seconds(served_at: str) -> float | None:
    """Seconds since the page was served (None: missing, or not believable)."""
    try:
        spent = time.time() - float(served_at)
    except ValueError:
        return None
    return round(spent, 2) if 0 <= spent <= MAX_SECONDS else None


def _login(request: Request, nonce: str, status: int = 200, error: str = "") -> HTMLResponse:
    response = render(request, "login.html", status, login_csrf=nonce, error=error)
    response.set_cookie(LOGIN_COOKIE, nonce, **cookie_options(max_age=3600))
    return response


@router.get("/login", response_model=None)
def login_page(request: Request) -> Response:
    """The sign-in form (a signed-in browser goes to the start page)."""
    if person_of_session(site(request).engine, request.cookies.get(SESSION_COOKIE)):
        return RedirectResponse("/", 303)
    return _login(request, secrets.token_urlsafe(24))


@router.post("/login", response_model=None)
def login(request: Request, form: Form = Depends(read_form)) -> Response:
    """Sign in with a token: a session cookie on success, 401 (and no session) otherwise."""
    if form.problem is not None:
        raise HTTPException(*form.problem)
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not same_secret(form.get("csrf"), nonce):
        raise HTTPException(403, "this sign-in form has expired; reload the page")
    engine = site(request).engine
    person = authenticate(engine, form.get("token").strip())
    if person is None or nonce is None:
        return _login(request, nonce or "", 401, "That token is not known. Ask for a new one.")
    if request.cookies.get(SESSION_COOKIE):  # a new session id at every sign-in
        end_session(engine, request.cookies[SESSION_COOKIE])
    session, _ = open_session(engine, person)
    response = RedirectResponse("/", 303)
    response.set_cookie(SESSION_COOKIE, session, **cookie_options())
    response.delete_cookie(LOGIN_COOKIE, **cookie_options())
    return response


@router.post("/logout")
def logout(request: Request, signed: Signed = Depends(signed_form)) -> RedirectResponse:
    """Sign this browser out: its session ends and the cookie is cleared."""
    end_session(site(request).engine, request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE, **cookie_options())
    return response


@router.get("/")
def home(request: Request, person: Person = Depends(page_person)) -> HTMLResponse:
    """The start page: the progress and a link to every page."""
    s = site(request)
    return render(
        request,
        "home.html",
        progress=progress(s.engine, person.id, s.config),
        sets=set_counts(s.engine),
        levels=level_counts(s.engine),
        level_names=LEVELS,
        report=s.report.is_file(),
    )


@router.get("/queue")
def queue_page(
    request: Request, graded: int | None = None, person: Person = Depends(page_person)
) -> HTMLResponse:
    """The pair to grade now (the one held, after a reload), or word that none is left.

    ``graded``: the pair just graded, to confirm (and, with ``review.show_cascade``, to say
    what the cascade said of it) when this person did grade it."""
    s = site(request)
    task = next_task(s.engine, person.id, s.config)
    after = None if graded is None else hindsight(s.engine, person.id, graded)
    return render(
        request,
        "queue.html",
        task=task,
        after=after,
        show_cascade=s.config.show_cascade,
        served_at=f"{time.time():.3f}",
        progress=progress(s.engine, person.id, s.config),
        max_note=MAX_NOTE_CHARS,
    )


@router.post("/queue/grade")
def grade(request: Request, signed: Signed = Depends(signed_form)) -> RedirectResponse:
    """Record the grade of the pair held (a repeated submission is recorded once)."""
    s, form = site(request), signed.form
    item_id = to_int(form.get("item_id"), "item_id")
    value = to_int(form.get("grade"), "grade")
    note = form.get("note").strip() or None
    if value not in (0, 1, 2, 3):
        raise HTTPException(422, f"a grade is 0, 1, 2 or 3, got {value}")
    if note is not None and len(note) > MAX_NOTE_CHARS:
        raise HTTPException(422, f"a note holds at most {MAX_NOTE_CHARS} characters")
    try:
        record_grade(
            s.engine,
            signed.person.id,
            item_id,
            value,
            s.config,
            note=note,
            seconds=_seconds(form.get("served_at")),
        )
    except DissentError as exc:
        raise HTTPException(409, str(exc)) from exc
    return RedirectResponse(f"/queue?graded={item_id}", 303)


@router.post("/queue/skip")
def skip_pair(request: Request, signed: Signed = Depends(signed_form)) -> RedirectResponse:
    """Pass on the pair held: it goes to someone else."""
    item_id = to_int(signed.form.get("item_id"), "item_id")
    skip(site(request).engine, signed.person.id, item_id)
    return RedirectResponse("/queue", 303)


@router.post("/queue/undo")
def undo_last(request: Request, signed: Signed = Depends(signed_form)) -> RedirectResponse:
    """Take back the last grade: its pair comes back to be graded again."""
    s = site(request)
    undo(s.engine, signed.person.id, s.config)
    return RedirectResponse("/queue", 303)
