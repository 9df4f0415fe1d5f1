"""The word tokenizer every stage shares: the lexical channels (so that engines compare fairly)
and the channel signals beside tier 1.

Lower-cases, splits on anything that is not a letter or digit, keeps numbers (sizes and
voltages matter in product search: "20v", "1/2", "60w"), folds accents, and drops a short
English stopword list.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOPWORDS", "tokenize"]

STOPWORDS = frozenset(
    "a an and are as at be by for from has in into is it of on or that the this to with "  # noqa: SIM905
    "without".split()
)
_TOKEN = re.compile(r"[a-z0-9]+")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def tokenize(text: str) -> list[str]:
    """Tokens of ``text``: ``"DEWALT 20V Café-Drill"`` → ``["dewalt", "20v", "cafe", "drill"]``."""
    return [t for t in _TOKEN.findall(_fold(text)) if t not in STOPWORDS]
