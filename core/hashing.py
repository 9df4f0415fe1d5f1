"""Stable content hashes (SHA-256 over canonical JSON)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["content_hash", "seeded_int", "seeded_unit"]


def content_hash(value: Any) -> str:
    """The hex SHA-256 of ``value`` serialised as canonical JSON (sorted keys, no spaces).

    Equal values give equal hashes on every machine and Python version, so the hash can key
    caches that outlive a process (judgments are keyed by the product's content hash).
    """
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def seeded_int(*parts: object) -> int:
    """A 64-bit integer fixed by ``parts`` (their text joined by NUL), the same everywhere.

    Seeded, order-free sampling: a query's split or shuffle depends on the seed and the query
    alone, not on row order or on which other queries exist.
    """
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def seeded_unit(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts`` (see :func:`seeded_int`)."""
    return seeded_int(*parts) / 2**64


def file_digest(path: Path, digest: Any = None) -> str:
    """SHA-256 of a file's bytes, read in blocks (or fed into ``digest`` and its hex returned)."""
    digest = digest or hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return str(digest.hexdigest())
