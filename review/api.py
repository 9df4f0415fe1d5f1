"""The JSON API: the labelling queue for programs (a load test, a labelling tool of one's own).

Every call authenticates with the person's token, ``Authorization: Bearer <token>``; without
a valid one it answers 401 and writes nothing. The contract:

- ``POST /api/next`` → 200 ``{"item_id", "query", "product", "raters", "position"}``, the pair
  held or the next one (never the cascade's grade), or 204 when the queue holds nothing more
  for this person;
- ``POST /api/label`` ``{"item_id", "grade": 0-3, "note": str|null, "seconds": float|null}``
  → 200 ``{"recorded": bool}`` (false: a repeated submission, nothing written), 409 when the
  pair was not handed to this person, 422 for a bad body;
- ``POST /api/skip`` ``{"item_id"}`` → 200 ``{"item_id"}``;
- ``POST /api/undo`` → 200 ``{"item_id": int|null}`` (null: nothing to undo);
- ``GET /api/progress`` → the fields of :class:`review.progress.Progress`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import DissentError
from review.labelling import MAX_NOTE_CHARS, next_task, record_grade, skip, undo
from review.people import Person
from review.progress import progress
from review.security import api_person, read_body
from review.web import site

__all__ = ["LabelBody", "SkipBody", "router"]

router = APIRouter(prefix="/api")
Body = TypeVar("Body", bound=BaseModel)


class SkipBody(BaseModel):
    """``POST /api/skip``: the pair to pass on."""

    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(strict=True)


class LabelBody(BaseModel):
    """``POST /api/label``: a grade of a pair handed to the caller."""

    model_config = ConfigDict(extra="forbid")

    item_id: int = Field(strict=True)
    grade: int = Field(strict=True, ge=0, le=3)
    note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)
    seconds: float | None = Field(default=None, ge=0)


def body_of(model: type[Body]) -> Callable[..., Awaitable[Body]]:
    """A dependency reading a JSON body as ``model``, after the token is checked (so a call
    without a valid token answers 401 whatever its body); 422 when it does not fit."""

    async def read(request: Request, person: Person = Depends(api_person)) -> Body:
        raw = await read_body(request)
        if raw is None:
            raise HTTPException(413, "a request body holds at most 64 KiB")
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            raise RequestValidationError(
                [{**e, "loc": ("body", *e["loc"])} for e in errors]
            ) from None

    return read


@router.post("/next", response_model=None)
def next_pair(request: Request, person: Person = Depends(api_person)) -> Response | dict[str, Any]:
    """The pair to grade now, or 204."""
    s = site(request)
    task = next_task(s.engine, person.id, s.config)
    if task is None:
        return Response(status_code=204)
    return {
        "item_id": task.item_id,
        "query": task.query,
        "product": task.product,
        "raters": task.raters,
        "position": task.position,
    }


@router.post("/label")
def label(
    request: Request,
    body: LabelBody = Depends(body_of(LabelBody)),
    person: Person = Depends(api_person),
) -> dict[str, bool]:
    """Record a grade; 409 when the pair was not handed to this person."""
    s = site(request)
    try:
        recorded = record_grade(
            s.engine,
            person.id,
            body.item_id,
            body.grade,
            s.config,
            note=body.note,
            seconds=body.seconds,
        )
    except DissentError as exc:
        raise HTTPException(409, str(exc)) from exc
    return {"recorded": recorded}


@router.post("/skip")
def skip_pair(
    request: Request,
    body: SkipBody = Depends(body_of(SkipBody)),
    person: Person = Depends(api_person),
) -> dict[str, int]:
    """Pass on a pair held."""
    skip(site(request).engine, person.id, body.item_id)
    return {"item_id": body.item_id}


@router.post("/undo")
def undo_last(request: Request, person: Person = Depends(api_person)) -> dict[str, int | None]:
    """Take back the caller's last grade."""
    s = site(request)
    return {"item_id": undo(s.engine, person.id, s.config)}


@router.get("/progress")
def progress_of(request: Request, person: Person = Depends(api_person)) -> dict[str, Any]:
    """The labelling's progress, and the caller's own."""
    s = site(request)
    return asdict(progress(s.engine, person.id, s.config))
