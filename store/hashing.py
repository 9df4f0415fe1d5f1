"""Stable content hashes (SHA-256 over canonical JSON)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["content_hash"]


def content_hash(value: Any) -> str:
    """The hex SHA-256 of ``value`` serialised as canonical JSON (sorted keys, no spaces).

    Equal values give equal hashes on every machine and Python version, so the hash can key
    caches that outlive a process (judgments are keyed by the product's content hash).
    """
    payload = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
