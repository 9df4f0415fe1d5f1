"""Versioned prompt templates (Jinja2, shipped as package data in this folder).

A template's *version hash* is the SHA-256 of its source and of the version of
:func:`~prompts.sanitize.sanitize`, which every tier's product text goes through: it is part of
every judgment's cache key, so editing the prompt or the sanitizer never reuses answers given
to the old ones.

Example:
    >>> prompt = load_prompt("grading")
    >>> messages = prompt.render("cordless drill", {"title": "DEWALT 20V MAX Drill"})
    >>> [m["role"] for m in messages], len(prompt.version)
    (['system', 'user'], 64)
    >>> "DEWALT 20V MAX Drill" in messages[1]["content"]
    True
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from prompts.sanitize import SANITIZER_VERSION, sanitize

__all__ = ["GRADES", "SANITIZER_VERSION", "Prompt", "escape_data", "load_prompt", "sanitize"]

GRADES = {3: "Exact", 2: "Substitute", 1: "Complement", 0: "Irrelevant"}
_SPLIT = "<<<USER>>>"
_TAGS = re.compile(r"</?\s*product\s*>", re.IGNORECASE)


def escape_data(text: str) -> str:
    """Product text made safe to place inside the ``<product>`` block.

    Removes anything that would close or open the block and the template's own separator,
    and folds newlines, so seller text cannot pose as a new section of the prompt.
    """
    text = _TAGS.sub(" ", text).replace(_SPLIT, " ")
    return " ".join(text.split())


@dataclass(frozen=True)
class Prompt:
    """A loaded template: ``render`` gives chat messages, ``version`` the cache-key hash."""

    name: str
    source: str

    @property
    def version(self) -> str:
        """SHA-256 of the template and the sanitizer's version (what shapes a model's input)."""
        keyed = f"{self.source}\x00sanitizer:{SANITIZER_VERSION}"
        return hashlib.sha256(keyed.encode("utf-8")).hexdigest()

    def render(self, query: str, product: dict[str, Any]) -> list[dict[str, str]]:
        """System and user messages for one (query, product) pair.

        ``product`` holds ``title`` and optionally ``brand``, ``product_type``,
        ``attributes`` (a dict) and ``description``; every value is escaped as data.
        """
        fields = {"brand": None, "product_type": None, "attributes": None, "description": None}
        clean = {
            key: (
                {escape_data(str(k)): escape_data(str(v)) for k, v in value.items()}
                if isinstance(value, dict)
                else escape_data(str(value))
                if value
                else value
            )
            for key, value in {**fields, **product}.items()
        }
        text = _template(self.source).render(query=escape_data(query), product=clean)
        system, user = text.split(_SPLIT, 1)
        return [
            {"role": "system", "content": system.strip()},
            {"role": "user", "content": user.strip()},
        ]


@cache
def _template(source: str) -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=False, undefined=jinja2.StrictUndefined, keep_trailing_newline=False
    )
    return env.from_string(source)


def load_prompt(name: str = "grading") -> Prompt:
    """Load ``prompts/<name>.j2`` from the installed package."""
    path = resources.files("prompts").joinpath(f"{name}.j2")
    if not path.is_file():
        available = sorted(
            p.name.removesuffix(".j2")
            for p in resources.files("prompts").iterdir()
            if p.name.endswith(".j2")
        )
        from core.errors import ConfigError

        raise ConfigError(f"unknown prompt {name!r}; available: {', '.join(available)}")
    return Prompt(name, path.read_text(encoding="utf-8"))
