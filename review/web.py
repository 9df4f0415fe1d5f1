"""What every route of the review page shares: the site's state and the rendered templates.

Templates are Jinja2 files of ``review/templates`` (package data), rendered with autoescape
on: product text, queries, notes and names reach the page as text, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Engine

from core.paths import Workdir
from prompts import GRADES
from review.config import ReviewConfig, ReviewSettings
from review.rubric import rubric

__all__ = ["Site", "SiteSettings", "render", "site"]


class SiteSettings(ReviewSettings, Protocol):
    """What the page reads of the pipeline configuration: ``review``, ``splits``, ``workdir``
    (where ``dissent calibrate`` writes its report)."""

    workdir: Path


@dataclass(frozen=True)
class Site:
    """The store and the configuration one app serves."""

    engine: Engine
    settings: SiteSettings

    @property
    def config(self) -> ReviewConfig:
        return self.settings.review

    @property
    def report(self) -> Path:
        """Where ``dissent calibrate`` writes its HTML report."""
        return Workdir(self.settings.workdir).calibration_reports / "report.html"


def site(request: Request) -> Site:
    """The :class:`Site` of the app serving ``request``."""
    found: Site = request.app.state.site
    return found


def _number(value: float | None, digits: int = 3) -> str:
    """A figure for a table: rounded, or an em dash when there is none."""
    return "—" if value is None else f"{value:.{digits}f}"


def _grade(value: int | None) -> str:
    """A grade with its name ("2 Substitute"), or an em dash."""
    return "—" if value is None else f"{value} {GRADES.get(value, '?')}"


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("review", "templates"),
    autoescape=True,  # every template is HTML; nothing reaches the page unescaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["number"] = _number
_ENV.filters["grade"] = _grade
_ENV.globals["GRADES"] = GRADES


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context``, the rubric and the signed-in person (if any)."""
    context.setdefault("person", getattr(request.state, "person", None))
    page = _ENV.get_template(template).render(rubric=rubric(), path=request.url.path, **context)
    return HTMLResponse(page, status_code=status)
