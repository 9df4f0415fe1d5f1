"""Who may do what on the review page, and the headers every answer carries.

- A browser signs in with a person's token and gets a session cookie (``HttpOnly``,
  ``SameSite=Strict``) naming a session of :func:`review.people.open_session`. Pages need it:
  an HTML ``GET`` without one is sent to ``/login``; anything else answers 401 before it
  reads or writes anything.
- Every form carries the session's CSRF token (the login form a double-submit one, from a
  cookie of its own) and every ``POST`` checks it: 403 on a mismatch, nothing written.
- The JSON API authenticates each call by ``Authorization: Bearer <token>`` (no cookie, so
  no CSRF to forge): 401 without a valid token.
- :class:`SecurityHeaders` puts a strict Content-Security-Policy (scripts and styles from
  ``/static`` only, no inline code, no frames), ``nosniff`` and ``no-referrer`` on every
  answer; the calibration report (``/report``) may use its inline styles and ``data:``
  images, and no script at all.

Bodies are read here, at most 64 KiB: forms ``application/x-www-form-urlencoded``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from review.people import Person, authenticate, person_of_session
from review.web import site

__all__ = [
    "CSP",
    "LOGIN_COOKIE",
    "REPORT_CSP",
    "SESSION_COOKIE",
    "Form",
    "SecurityHeaders",
    "SignInRequired",
    "Signed",
    "api_person",
    "cookie_options",
    "page_person",
    "read_body",
    "read_form",
    "same_secret",
    "signed_form",
]

SESSION_COOKIE = "dissent_session"
LOGIN_COOKIE = "dissent_login"
MAX_BODY_BYTES = 64 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
REPORT_CSP = (
    "default-src 'none'; script-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
)


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP answer (see the module docstring);
    pages are never cached, as they carry CSRF tokens."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = REPORT_CSP if path == "/report" else CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
                headers["X-Frame-Options"] = "DENY"
                if not path.startswith("/static/"):
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SignInRequired(Exception):
    """An HTML page was asked for without a session: the app answers with ``/login``."""


@dataclass(frozen=True)
class Form:
    """A parsed form body, or why it could not be read (an HTTP status and a reason)."""

    fields: dict[str, str] = field(default_factory=dict)
    problem: tuple[int, str] | None = None

    def get(self, name: str, default: str = "") -> str:
        return self.fields.get(name, default)


async def read_body(request: Request) -> bytes | None:
    """The request's body, or None when it is longer than ``MAX_BODY_BYTES``."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def read_form(request: Request) -> Form:
    """The request's url-encoded form (the first value of each field); nothing is judged yet,
    so that a request without a session still answers 401 first."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return Form(problem=(415, "send the form url-encoded"))
    body = await read_body(request)
    if body is None:
        return Form(problem=(413, f"a form holds at most {MAX_BODY_BYTES // 1024} KiB"))
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=64)
    except (UnicodeDecodeError, ValueError):
        return Form(problem=(400, "the form could not be read"))
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return Form(fields)


def _session_person(request: Request) -> Person | None:
    person = person_of_session(site(request).engine, request.cookies.get(SESSION_COOKIE))
    request.state.person = person
    return person


def page_person(request: Request) -> Person:
    """The signed-in person of an HTML ``GET``; without a session, the way to ``/login``."""
    person = _session_person(request)
    if person is None:
        raise SignInRequired()
    return person


@dataclass(frozen=True)
class Signed:
    """A ``POST`` from a signed-in person whose form carried the session's CSRF token."""

    person: Person
    form: Form


def signed_form(request: Request, form: Form = Depends(read_form)) -> Signed:
    """The person and form of a page's ``POST``: 401 without a session, 403 when the form's
    CSRF token is not the session's; nothing has been written when either is raised."""
    person = _session_person(request)
    if person is None:
        raise HTTPException(401, "sign in first")
    if form.problem is not None:
        raise HTTPException(*form.problem)
    if not same_secret(form.get("csrf"), person.csrf):
        raise HTTPException(403, "this form has expired or did not come from this page; reload")
    return Signed(person, form)


def same_secret(given: str | None, expected: str | None) -> bool:
    """Whether two secrets match (in constant time; an empty one never does)."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def api_person(request: Request) -> Person:
    """The person of an API call, by ``Authorization: Bearer <token>``; 401 otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    person = (
        authenticate(site(request).engine, token.strip()) if scheme.lower() == "bearer" else None
    )
    if person is None:
        raise HTTPException(
            401, "send a valid token: Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
        )
    return person


def cookie_options(**extra: Any) -> dict[str, Any]:
    """How the page's cookies are set: not readable by scripts, never sent cross-site."""
    return {"httponly": True, "samesite": "strict", "path": "/", **extra}
