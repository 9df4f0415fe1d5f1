"""Ingest mappings: how a dataset's files and columns map onto the store.

A mapping is one YAML file per dataset with up to three sections, ``catalog``, ``queries``
and ``labels``. Each names its input columns and, for labels, how the dataset's own labels map
onto the internal 0–3 scale (3 Exact, 2 Substitute, 1 Complement, 0 Irrelevant). The raw
label is always kept beside the grade.

Two kinds of label scale:

- ``values``: an explicit table, for letters or integer medians::

      scale: {kind: values, values: {E: 3, S: 2, C: 1, I: 0}}
      scale: {kind: values, values: {"4": 3, "3": 2, "2": 1, "1": 0}}   # 1–4 medians

- ``bins``: half-open numeric ranges ``[min, max)`` (the last may close with
  ``include_max: true``), for rater means such as Home Depot's 1–3::

      scale:
        kind: bins
        bins:
          - {min: 1.0, max: 1.75, grade: 0}
          - {min: 1.75, max: 2.25, grade: 1}
          - {min: 2.25, max: 2.75, grade: 2}
          - {min: 2.75, max: 3.0, grade: 3, include_max: true}

A label that matches no entry is an ingest error naming the row, never a guessed grade.

Queries without ids in the dataset use their text (stripped of surrounding whitespace) as
external id; a labels file then names queries by that text. Inner whitespace is kept: Home
Depot rates "fence mesh" and "fence  mesh" as two queries with different labels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.config import read_yaml
from core.errors import MappingError

__all__ = [
    "CatalogMapping",
    "DatasetMapping",
    "FileSection",
    "LabelMapping",
    "LabelScale",
    "QueryMapping",
    "load_mapping",
]

FileFormat = Literal["csv", "jsonl", "parquet"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileSection(_Strict):
    file: str | None = Field(
        default=None, description="input file, relative to the mapping file; the CLI may override"
    )
    format: FileFormat | None = Field(default=None, description="default: from the suffix")
    encoding: str = Field(default="utf-8", description="the text encoding of CSV and JSONL files")
    encoding_fallback: str | None = Field(
        default=None,
        description=(
            "read bytes the declared encoding cannot in this one instead (e.g. cp1252 for "
            "code-page leftovers in a UTF-8 file), counted in the report; unset: refuse them"
        ),
    )
    delimiter: str = Field(default=",", description="the CSV delimiter")


class CatalogColumns(_Strict):
    external_id: str
    title: str
    description: str | None = None
    brand: str | None = None
    product_type: str | None = None
    attributes: str | list[str] | None = Field(
        default=None,
        description="a column holding a JSON object, or a list of columns, each an attribute",
    )


class CatalogMapping(FileSection):
    columns: CatalogColumns
    duplicate_ids: Literal["error", "keep_first", "keep_last"] = Field(
        default="error",
        description=(
            "an id repeated with different content: an error (default), or keep its first or "
            "last version and count the conflict in the report (for known-messy datasets)"
        ),
    )


class QueryColumns(_Strict):
    text: str
    external_id: str | None = None
    frequency: str | None = None
    segment: str | None = None


class QueryMapping(FileSection):
    columns: QueryColumns
    head_min_frequency: int = Field(default=1000, description="frequency >= this is head")
    tail_max_frequency: int = Field(default=10, description="frequency <= this is tail")


class Bin(_Strict):
    min: float
    max: float
    grade: int = Field(ge=0, le=3)
    include_max: bool = False

    def contains(self, value: float) -> bool:
        return self.min <= value < self.max or (self.include_max and value == self.max)


class LabelScale(_Strict):
    kind: Literal["values", "bins"]
    values: dict[str, int] | None = None
    bins: list[Bin] | None = None

    @model_validator(mode="after")
    def _check(self) -> LabelScale:
        if self.kind == "values":
            if not self.values:
                raise ValueError("kind 'values' needs a non-empty 'values' table")
            bad = {k: v for k, v in self.values.items() if not 0 <= v <= 3}
            if bad:
                raise ValueError(f"grades must be 0-3, got {bad}")
        elif not self.bins:
            raise ValueError("kind 'bins' needs a non-empty 'bins' list")
        return self

    def allowed(self) -> str:
        """A short description of the accepted labels, for error messages."""
        if self.kind == "values":
            return "one of " + ", ".join(repr(k) for k in (self.values or {}))
        return "a number in " + ", ".join(
            f"[{b.min}, {b.max}{']' if b.include_max else ')'}" for b in self.bins or []
        )

    def grade(self, raw: str) -> int | None:
        """The internal grade of a raw label, or None when the mapping does not cover it."""
        if self.kind == "values":
            assert self.values is not None
            if raw in self.values:
                return self.values[raw]
            number = _as_number(raw)
            if number is not None:
                for key, grade in self.values.items():
                    if _as_number(key) == number:
                        return grade
            return None
        number = _as_number(raw)
        if number is None:
            return None
        return next((b.grade for b in self.bins or [] if b.contains(number)), None)


def _as_number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class LabelColumns(_Strict):
    query: str = Field(description="the query's external id (its text when the dataset has no ids)")
    product: str = Field(description="the product's external id")
    label: str
    rater_spread: str | None = None


class LabelMapping(FileSection):
    columns: LabelColumns
    scale: LabelScale


class DatasetMapping(_Strict):
    """A whole mapping file."""

    name: str = Field(description="the dataset name, stored as each row's source")
    max_field_chars: int = Field(default=65_536, ge=1, description="longest accepted field")
    strict_text: bool = Field(
        default=False,
        description=(
            "refuse control characters and overlong brands or product types in free text "
            "instead of replacing and cutting them (dissent ingest --strict)"
        ),
    )
    catalog: CatalogMapping | None = None
    queries: QueryMapping | None = None
    labels: LabelMapping | None = None
    base_dir: Path = Field(default=Path("."), exclude=True)

    def resolve(self, file: str | None, kind: str) -> Path:
        """The input file of section ``kind``: ``file`` if given, else the section's own."""
        if file is not None:
            return Path(file)
        section = getattr(self, kind)
        if section is None or section.file is None:
            raise MappingError(
                f"no file given for {kind} and mapping '{self.name}' names none; "
                f"pass FILE or set {kind}.file in the mapping"
            )
        return self.base_dir / section.file


def load_mapping(path: Path) -> DatasetMapping:
    """Read and validate a mapping file.

    Raises:
        MappingError: the file is missing, not YAML, or has an unknown or invalid key.
    """
    data = read_yaml(path, "mapping file", MappingError)
    if not isinstance(data, dict):
        raise MappingError(
            f"mapping file {path}: expected a mapping with name/catalog/queries/labels"
        )
    try:
        mapping = DatasetMapping.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            raise MappingError(f"mapping file {path}: unknown key '{where}'") from exc
        raise MappingError(f"mapping file {path}: '{where}': {err['msg']}") from exc
    mapping.base_dir = Path(path).parent
    return mapping
