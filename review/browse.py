"""The pages that look back: agreement, conflicts to settle, the cascade's decisions, the report.

- ``/agreement``: people against each other (QWK, exact agreement, Krippendorff's α) beside
  each person against the cascade, and labels per person (:mod:`review.agreement`);
- ``/conflicts``: the pairs people graded differently, each with a form to settle it
  (:func:`review.labelling.settle_item`; the settled grade goes to ``human_labels``);
- ``/views/...``: examples per disagreement set and curriculum level, promoted and demoted
  pairs, the pairs where the cascade and people disagree most (:mod:`review.views`);
- ``/report``: the calibration report ``dissent calibrate`` wrote, as it is (its own CSP:
  inline styles and ``data:`` images, no script).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from core.errors import DissentError
from review.agreement import agreement, conflicts
from review.labelling import settle_item
from review.pages import to_int
from review.people import Person
from review.security import Signed, page_person, signed_form
from review.views import LEVELS, SETS, by_level, by_set, demoted, disputed, promoted
from review.web import render, site

__all__ = ["router"]

router = APIRouter()

_LISTS = {
    "promoted": (
        "Promoted pairs",
        "Mined as negatives (hard, token-similar or random) but graded relevant by the "
        "cascade: the curriculum trains them as positives, never as negatives.",
        promoted,
    ),
    "demoted": (
        "Demoted pairs",
        "Easy positives (every channel retrieved them) that the cascade graded not relevant: "
        "the curriculum leaves them out.",
        demoted,
    ),
    "disputed": (
        "Where the cascade and people disagree most",
        "Pairs a person and the cascade both graded, the widest gap first.",
        disputed,
    ),
}


@router.get("/agreement")
def agreement_page(request: Request, person: Person = Depends(page_person)) -> HTMLResponse:
    """How far people agree with each other and with the cascade."""
    return render(request, "agreement.html", found=agreement(site(request).engine))


@router.get("/conflicts")
def conflicts_page(request: Request, person: Person = Depends(page_person)) -> HTMLResponse:
    """The pairs to settle, the widest disagreements first."""
    return render(request, "conflicts.html", conflicts=conflicts(site(request).engine))


@router.post("/conflicts/{item_id}/settle")
def settle(
    request: Request, item_id: int, signed: Signed = Depends(signed_form)
) -> RedirectResponse:
    """Record the grade a conflict is settled at."""
    s = site(request)
    value = to_int(signed.form.get("grade"), "grade")
    try:
        settle_item(s.engine, signed.person.id, item_id, value, s.config)
    except DissentError as exc:
        raise HTTPException(422, str(exc)) from exc
    return RedirectResponse("/conflicts", 303)


@router.get("/views/sets/{name}")
def set_page(request: Request, name: str, person: Person = Depends(page_person)) -> HTMLResponse:
    """Examples of one disagreement set of the latest mining run."""
    if name not in SETS:
        raise HTTPException(404, f"no disagreement set {name!r}; the sets are {', '.join(SETS)}")
    page = by_set(site(request).engine, name)
    title = f"Disagreement set: {name.replace('_', ' ')}"
    return render(request, "examples.html", title=title, about="", page=page)


@router.get("/views/levels/{level}")
def level_page(request: Request, level: int, person: Person = Depends(page_person)) -> HTMLResponse:
    """Examples of one level of the latest curriculum run."""
    if level not in LEVELS:
        raise HTTPException(404, f"no curriculum level {level}; the levels are 1 to 5")
    page = by_level(site(request).engine, level)
    return render(request, "level.html", level=level, name=LEVELS[level], page=page)


@router.get("/views/{name}")
def list_page(request: Request, name: str, person: Person = Depends(page_person)) -> HTMLResponse:
    """Promoted, demoted or disputed pairs."""
    if name not in _LISTS:
        raise HTTPException(404, f"no view {name!r}; the views are {', '.join(_LISTS)}")
    title, about, query = _LISTS[name]
    page = query(site(request).engine)
    return render(request, "examples.html", title=title, about=about, page=page)


@router.get("/report", response_model=None)
def report(request: Request, person: Person = Depends(page_person)) -> FileResponse:
    """The calibration report, as ``dissent calibrate`` wrote it."""
    path = site(request).report
    if not path.is_file():
        raise HTTPException(404, "no calibration report yet: run `dissent calibrate`")
    return FileResponse(path, media_type="text/html; charset=utf-8")
