"""Catalog terms: the normalisation the catalog channel applies to products and queries alike.

Measurements are rewritten to a canonical ``<number> <unit>`` form first (``"60-Watt"``,
``"60w"`` → ``60 watt``; ``"1/2 in."`` → ``1 2 inch``; ``"1-gal."`` → ``1 gal``), so the unit
survives the shared tokenizer (which drops ``in``); then :func:`core.tokenize.tokenize`; then a
light plural folding (``drills`` → ``drill``, ``batteries`` → ``battery``). :data:`COLOURS` are
the colours and finishes found in titles as attribute values.

Example:
    >>> terms("DEWALT 20V Drills"), measurements("60-Watt 1/2 in. bulb")
    (['dewalt', '20', 'volt', 'drill'], ['60 watt', '1 2 inch'])
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from core.tokenize import tokenize

__all__ = [
    "COLOURS",
    "COLOUR_PATTERN",
    "COLOUR_TERMS",
    "STOP",
    "colours",
    "is_word",
    "measurements",
    "normalize_text",
    "terms",
]

COLOURS = [
    "white", "black", "gray", "grey", "silver", "gold", "brown", "red", "blue", "green", "yellow",
    "orange", "purple", "pink", "beige", "tan", "ivory", "almond", "bisque", "cream", "natural",
    "clear", "chrome", "nickel", "bronze", "brass", "copper", "pewter", "espresso", "walnut",
    "oak", "cherry", "maple", "mahogany", "cedar", "teak", "charcoal", "taupe", "biscuit",
    "stainless", "stainless steel", "brushed nickel", "satin nickel", "polished nickel",
    "polished chrome",
    "oil rubbed bronze", "antique bronze", "antique brass", "polished brass", "matte black",
    "brushed stainless", "satin chrome", "venetian bronze", "aged bronze", "white oak",
]  # fmt: skip
_UNITS = {
    "sq_ft": (r"sq\.?\s?ft\.?", "sq ft"),
    "cu_ft": (r"cu\.?\s?ft\.?", "cu ft"),
    "inch": (r'in\.|inch(?:es)?|in(?!-\d)|"', "inch"),
    "ft": (r"ft\.?|feet|foot|'", "ft"),
    "gal": (r"gal(?:lon)?s?\.?", "gal"),
    "qt": (r"qt\.?|quarts?", "qt"),
    "oz": (r"fl\.?\s?oz\.?|oz\.?|ounces?", "oz"),
    "lb": (r"lbs?\.?|pounds?", "lb"),
    "watt": (r"watts?|w", "watt"),
    "volt": (r"volts?|v", "volt"),
    "amp": (r"amps?|amperes?", "amp"),
    "gauge": (r"gauge|ga\.?", "gauge"),
    "light": (r"lights?", "light"),
    "piece": (r"pieces?|pcs?\.?", "piece"),
    "pack": (r"pack|pk", "pack"),
    "tooth": (r"tooth|teeth", "tooth"),
    "lumen": (r"lumens?", "lumen"),
    "kelvin": (r"k", "kelvin"),
    **{
        u: (u, u) for u in ("mm", "cm", "btu", "gpm", "psi", "cfm", "hp", "cc", "mah", "ah", "grit")
    },
}
# Words that end a brand or type n-gram: units, and the dimension words that follow sizes.
_NOUN_UNITS = {"light", "piece", "pack", "tooth", "grit"}
STOP = frozenset(w for _, c in _UNITS.values() for w in c.split() if w not in _NOUN_UNITS) | {
    "x", "length", "wide", "width", "deep", "depth", "high", "height", "long", "thick", "dia",
    "diameter",
}  # fmt: skip
_MEASURE = re.compile(
    r"(?<![a-z0-9./])(?P<num>\d+(?:[- ]\d+/\d+|/\d+|\.\d+)?)\s*-?\s*(?:"
    + "|".join(f"(?P<{name}>{pattern})" for name, (pattern, _) in _UNITS.items())
    + r")(?![a-z0-9])"
)


def _fold(token: str) -> str:
    """Light plural folding, the same on both sides: drills → drill, batteries → battery."""
    if len(token) <= 3 or not token.isalpha() or token.endswith(("ss", "us", "is")):
        return token
    if token.endswith("ies"):
        return token[:-3] + "y"
    if token.endswith(("xes", "ches", "shes", "sses")):
        return token[:-2]
    return token[:-1] if token.endswith("s") else token


def _canonical(match: re.Match[str]) -> str:
    return f" {match['num']} {_UNITS[str(match.lastgroup)][1]} "


def normalize_text(text: str) -> str:
    """Lower-case ``text`` with its measurements rewritten as ``<number> <unit>``."""
    return _MEASURE.sub(_canonical, text.lower())


def terms(text: str) -> list[str]:
    """Normalised tokens: ``"DEWALT 20V Drills"`` → ``["dewalt", "20", "volt", "drill"]``."""
    return [_fold(t) for t in tokenize(normalize_text(text))]


def measurements(text: str) -> list[str]:
    """Measurements in ``text`` as terms: ``"60-Watt 1/2 in."`` → ``["60 watt", "1 2 inch"]``."""
    return [" ".join(terms(_canonical(m))) for m in _MEASURE.finditer(text.lower())]


COLOUR_TERMS = {tuple(terms(c)) for c in COLOURS}
COLOUR_PATTERN = "|".join(sorted((re.escape(c) for c in COLOURS), key=len, reverse=True))


def colours(tokens: Sequence[str]) -> list[str]:
    """The colours and finishes among ``tokens`` (longest first): ``["oil", "rubbed", "bronze"]``
    → ``["oil rubbed bronze"]``."""
    found, i = [], 0
    while i < len(tokens):
        for n in (3, 2, 1):
            if tuple(tokens[i : i + n]) in COLOUR_TERMS:
                found.append(" ".join(tokens[i : i + n]))
                i += n
                break
        else:
            i += 1
    return found


def is_word(token: str) -> bool:
    """A token that may be part of a brand or type: letters, not a unit or dimension word."""
    return token.isalpha() and len(token) > 1 and token not in STOP
