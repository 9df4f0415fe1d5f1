"""The curriculum as the retriever reads it: an export folder on disk, checked and hashed.

The retriever never imports the curriculum stage. It reads what ``dissent export`` wrote: the
datasets (``stage1_bce``, ``stage2_mnr``, ``stage3_triplet``, ``graded``; their ``train``
splits) and ``manifest.json`` (which curriculum run the export holds). :func:`open_export`
checks the folder before any work starts and hashes the datasets' Arrow files: a trained
model's identity includes that hash, so a model trained on other data is never taken for one
trained on this export.

Example:
    >>> open_export(Path("/nonexistent"))
    Traceback (most recent call last):
    ...
    core.errors.DissentError: no curriculum export at /nonexistent: the folder does not exist; run `dissent export` first, or pass --export with the folder it wrote
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import DissentError
from core.hashing import file_digest

__all__ = ["DATASETS", "Export", "open_export"]

DATASETS = ("stage1_bce", "stage2_mnr", "stage3_triplet", "graded")
"""The export's datasets a recipe can read."""

_FIX = "run `dissent export` first, or pass --export with the folder it wrote"


@dataclass(frozen=True)
class Export:
    """A checked export folder: its path, manifest and a hash of its datasets' contents."""

    path: Path
    manifest: dict[str, Any] = field(repr=False)
    content_hash: str

    @property
    def curriculum_run(self) -> int | None:
        """The curriculum run the export holds (as the store that built it numbers runs)."""
        run = self.manifest.get("curriculum_run")
        return int(run) if run is not None else None

    def rows(self, name: str) -> list[tuple[Any, ...]]:
        """The ``train`` split of dataset ``name``, each row a tuple in column order.

        Raises:
            DissentError: the export has no such dataset.
        """
        from datasets import load_from_disk

        folder = self.path / name
        if not folder.is_dir():
            raise DissentError(f"no {name} dataset in {self.path}; {_FIX}")
        data = load_from_disk(str(folder))["train"]
        return [tuple(row.values()) for row in data]


def _content_hash(path: Path) -> str:
    """SHA-256 over every dataset's Arrow files, by relative path and content."""
    digest = hashlib.sha256()
    for name in DATASETS:
        for file in sorted((path / name).rglob("*.arrow")):
            digest.update(str(file.relative_to(path)).encode() + b"\0")
            file_digest(file, digest)
    return digest.hexdigest()


def open_export(path: Path, *, needs: Iterable[str] = ()) -> Export:
    """Check the export folder ``path`` and read its manifest.

    Args:
        path: the folder ``dissent export`` wrote.
        needs: the datasets the caller will read; each must be there.

    Returns:
        The export: its resolved path, manifest and content hash.

    Raises:
        DissentError: the folder does not exist, holds no ``manifest.json`` (or one that is not
            JSON), or lacks a dataset in ``needs``; the message names the path and the fix.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "the folder does not exist"
        raise DissentError(f"no curriculum export at {path}: {what}; {_FIX}")
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise DissentError(f"{path} is no curriculum export (it has no manifest.json); {_FIX}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DissentError(f"cannot read {manifest_path} ({exc}); {_FIX}") from exc
    missing = [name for name in needs if not (path / name).is_dir()]
    if missing:
        raise DissentError(f"no {', '.join(missing)} dataset in {path}; {_FIX}")
    return Export(path, manifest if isinstance(manifest, dict) else {}, _content_hash(path))
