"""The review page as one FastAPI application: ``create_app(engine, config)``.

It serves the pages (:mod:`review.pages`, :mod:`review.browse`), the JSON API
(:mod:`review.api`), its script and stylesheet from ``review/static``, and ``/healthz``. Who may
do what, and the headers every answer carries, are :mod:`review.security`'s. Errors answer as
pages for a browser and as ``{"detail": ...}`` under ``/api``; an HTML page asked for without
a session leads to ``/login``.

Example:
    >>> from fastapi.testclient import TestClient
    >>> from flows.config import load_config
    >>> from store.db import open_store
    >>> client = TestClient(create_app(open_store("sqlite://"), load_config(None, environ={})))
    >>> client.get("/healthz").json(), client.get("/", follow_redirects=False).headers["location"]
    ({'ok': True}, '/login')
    >>> client.post("/api/next").status_code
    401
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from review import api, browse, pages
from review.security import SecurityHeaders, SignInRequired
from review.web import Site, SiteSettings, render

__all__ = ["create_app"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
_TITLES = {
    400: "Bad request",
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Not yours to grade",
    413: "Too long",
    415: "Not a form",
    422: "Not understood",
}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def _http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    headers = dict(exc.headers or {})
    if _wants_json(request):
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=headers)
    response = render(
        request,
        "error.html",
        exc.status_code,
        title=_TITLES.get(exc.status_code, "Something went wrong"),
        detail=str(exc.detail),
        code=exc.status_code,
    )
    response.headers.update(headers)
    return response


async def _invalid(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, RequestValidationError):  # registered for it only
        raise exc
    if _wants_json(request):
        return await request_validation_exception_handler(request, exc)
    fields = ", ".join(
        ".".join(str(p) for p in e["loc"][1:]) or "the request" for e in exc.errors()
    )
    return await _http_error(request, HTTPException(422, f"check {fields}"))


async def _sign_in(request: Request, exc: Exception) -> Response:
    return RedirectResponse("/login", 303)


def create_app(engine: Engine, config: SiteSettings) -> FastAPI:
    """The review page over ``engine``, configured by ``config`` (the pipeline config: its
    ``review`` and ``splits`` sections and ``workdir``)."""
    app = FastAPI(
        title="Dissent review",
        docs_url=None,  # the interactive docs load scripts from a CDN, which the CSP forbids
        redoc_url=None,
        openapi_url=None,
    )
    app.state.site = Site(engine, config)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(SignInRequired, _sign_in)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages.router)
    app.include_router(browse.router)
    app.include_router(api.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app
