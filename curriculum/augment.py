"""Typo-aware augmentation: noisy copies of train queries that keep the clean query's labels.

A dense retriever trained only on clean queries degrades on misspelt ones, and roughly one
e-commerce query in eight contains a typo. :func:`choose_typos` picks a seeded fraction of
the *train* queries and gives each picked query one typo; the curriculum then writes every
example of that query a second time with the noisy text in ``query_text``, the same
``query_id`` and labels, and ``augmented=True``. Validation and test queries are never
augmented: the caller passes only train queries.

The rules:

- Tokens are maximal runs of non-whitespace, the ones ``query.split()`` returns. Exactly one
  token is edited; every other token and all whitespace are kept byte for byte.
- A token is *editable* when it is letters only (``str.isalpha()``), at least three
  characters long, and its lowercase is not in :data:`UNIT_WORDS`. So ``3/4``, ``20v``,
  ``2x4``, ``18-gauge``, ``in.`` and ``ft`` are never touched: a wrong number or unit turns
  a query into a different product request, not a misspelling of the same one.
- One edit from :data:`OPERATIONS`: ``deletion`` drops a letter, ``insertion`` adds a random
  lowercase letter, ``swap`` exchanges two adjacent letters, ``substitution`` replaces a
  letter with another random letter, ``keyboard`` replaces a letter with one of its QWERTY
  neighbours (:data:`KEYBOARD_NEIGHBOURS`). Replacements keep the letter's case.
- Every edit changes the query even after lowercasing (a swap needs two letters that differ
  ignoring case, a substitution picks a letter other than the original ignoring case), so a
  noisy copy is never a duplicate of its clean query for a case-insensitive model.
- Selection and edit are seeded per ``(seed, query text)``: a query's noisy copy does not
  depend on the order of the queries, on which other queries are augmented alongside it, nor
  on the id a database gave the query (two stores with the same data augment alike).

Example:
    >>> import random
    >>> typo = add_typo("cordless drill 20v", random.Random(3), operations=("deletion",))
    >>> typo.operation, len(typo.text)
    ('deletion', 17)
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "KEYBOARD_NEIGHBOURS",
    "OPERATIONS",
    "UNIT_WORDS",
    "Typo",
    "add_typo",
    "choose_typos",
]

OPERATIONS: tuple[str, ...] = ("deletion", "insertion", "swap", "substitution", "keyboard")
"""Names of the edits, in the order the documentation lists them."""

KEYBOARD_NEIGHBOURS: dict[str, str] = {
    "q": "wa",
    "w": "qeas",
    "e": "wrsd",
    "r": "etdf",
    "t": "ryfg",
    "y": "tugh",
    "u": "yihj",
    "i": "uojk",
    "o": "ipkl",
    "p": "ol",
    "a": "qwsz",
    "s": "weadzx",
    "d": "erfsxc",
    "f": "rtgdcv",
    "g": "tyhfvb",
    "h": "yujgbn",
    "j": "uikhnm",
    "k": "iojlm",
    "l": "opk",
    "z": "asx",
    "x": "zsdc",
    "c": "xdfv",
    "v": "cfgb",
    "b": "vghn",
    "n": "bhjm",
    "m": "njk",
}
"""QWERTY keys touching each lowercase letter's key (same row and the rows above and below)."""

# fmt: off
UNIT_WORDS: frozenset[str] = frozenset(
    {
        # length and area
        "in", "inch", "inches", "ft", "feet", "foot", "yd", "yds", "yard", "yards",
        "mm", "cm", "m", "meter", "meters", "sq", "sqft", "dia", "mil", "mils",
        # volume and weight
        "cu", "cuft", "gal", "gals", "gallon", "gallons", "qt", "qts", "quart", "quarts",
        "pt", "pint", "pints", "oz", "ounce", "ounces", "fl", "ml", "l", "liter", "liters",
        "lb", "lbs", "pound", "pounds", "kg", "g",
        # electrical, power and flow
        "v", "volt", "volts", "w", "watt", "watts", "kw", "kwh", "a", "amp", "amps",
        "ah", "mah", "hp", "rpm", "btu", "btus", "psi", "cfm", "gpm", "gpf", "lm",
        "lumen", "lumens", "k", "awg", "ga", "gauge",
        # dimensions and packaging
        "x", "pc", "pcs", "pk", "ct",
    }
)
# fmt: on
"""Unit tokens (lowercase) that are never edited, whatever their length."""

_TOKEN = re.compile(r"\S+")
_MIN_LENGTH = 3


@dataclass(frozen=True, slots=True)
class Typo:
    """One noisy copy of a query.

    Attributes:
        text: the noisy query.
        operation: the edit applied, one of :data:`OPERATIONS`.
        token: index of the edited token in ``query.split()`` (the same index holds the
            noisy token in ``text.split()``).
    """

    text: str
    operation: str
    token: int


def _keep_case(original: str, letter: str) -> str:
    return letter.upper() if original.isupper() else letter


def _positions(operation: str, word: str) -> range | list[int]:
    """Where ``operation`` can change ``word`` (a gap for insertion, a letter otherwise)."""
    if operation == "insertion":
        return range(len(word) + 1)
    if operation == "swap":
        return [i for i in range(len(word) - 1) if word[i].lower() != word[i + 1].lower()]
    if operation == "keyboard":
        return [i for i, c in enumerate(word) if c.lower() in KEYBOARD_NEIGHBOURS]
    return range(len(word))


def _edit(operation: str, word: str, i: int, rng: random.Random) -> str:
    """``word`` with ``operation`` applied at position ``i`` (one of :func:`_positions`)."""
    if operation == "deletion":
        return word[:i] + word[i + 1 :]
    if operation == "insertion":
        return word[:i] + rng.choice(string.ascii_lowercase) + word[i:]
    if operation == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if operation == "substitution":
        letters = [c for c in string.ascii_lowercase if c != word[i].lower()]
        return word[:i] + _keep_case(word[i], rng.choice(letters)) + word[i + 1 :]
    neighbour = rng.choice(KEYBOARD_NEIGHBOURS[word[i].lower()])
    return word[:i] + _keep_case(word[i], neighbour) + word[i + 1 :]


def _check_operations(operations: Sequence[str]) -> None:
    if isinstance(operations, str):
        raise ValueError(
            f"operations must be a sequence of names, got the string {operations!r}; "
            f"write ({operations!r},)"
        )
    if not operations:
        raise ValueError(f"operations is empty; name at least one of {', '.join(OPERATIONS)}")
    unknown = [op for op in operations if op not in OPERATIONS]
    if unknown:
        raise ValueError(
            f"unknown typo operation(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(OPERATIONS)}"
        )


def _is_editable(token: str) -> bool:
    return token.isalpha() and len(token) >= _MIN_LENGTH and token.lower() not in UNIT_WORDS


def _query_rng(seed: int, query: str) -> random.Random:
    # A hash, not random.Random((seed, query)): tuples are not valid seeds, and hash()
    # of a str is salted per process.
    digest = hashlib.sha256(f"{seed}:{query}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def add_typo(query: str, rng: random.Random, operations: Sequence[str] = OPERATIONS) -> Typo | None:
    """One typo in one editable token; None when the query has no editable token.

    The operation is drawn uniformly from ``operations`` (a name listed twice is twice as
    likely); when it fits no editable token (``swap`` on ``"aaa"``), another one is drawn
    from those left. The token is drawn uniformly among the editable tokens the operation
    fits, the position inside it uniformly among those the operation fits.

    Args:
        query: the clean query.
        rng: the source of randomness; it is advanced, so pass a fresh seeded one for a
            reproducible edit.
        operations: names from :data:`OPERATIONS` allowed for this edit.

    Returns:
        The noisy query, which always differs from ``query`` even after lowercasing, or
        None when no allowed operation fits any editable token.

    Raises:
        ValueError: ``operations`` is empty or names an unknown operation.

    Example:
        >>> typo = add_typo("3/4 in. pvc pipe", random.Random(0), operations=("swap",))
        >>> typo.token in (2, 3), typo.text.split()[:2]
        (True, ['3/4', 'in.'])
    """
    _check_operations(operations)
    spans = [m.span() for m in _TOKEN.finditer(query)]
    editable = [i for i, (start, end) in enumerate(spans) if _is_editable(query[start:end])]
    if not editable:
        return None
    remaining = list(operations)
    while remaining:
        operation = rng.choice(remaining)
        fitting = [i for i in editable if _positions(operation, query[slice(*spans[i])])]
        if not fitting:
            remaining = [op for op in remaining if op != operation]
            continue
        index = rng.choice(fitting)
        start, end = spans[index]
        word = query[start:end]
        noisy = _edit(operation, word, rng.choice(_positions(operation, word)), rng)
        return Typo(text=query[:start] + noisy + query[end:], operation=operation, token=index)
    return None


def choose_typos(
    queries: Mapping[int, str],
    rate: float,
    seed: int = 0,
    operations: Sequence[str] = OPERATIONS,
) -> dict[int, Typo]:
    """Which queries (by id) get a noisy copy, and the copy.

    Each query draws from its own random source, seeded by a SHA-256 of ``(seed, text)``:
    first a uniform ``u``, and the query is picked when ``u < rate``; then the typo itself.
    So a query's fate depends only on the seed and its text, never on its store id, the other
    queries or their order. A picked query with no
    editable token (``"3/4 in 10 ft"``) is skipped, so the returned share is ``rate`` of the
    queries that have an editable token.

    Args:
        queries: clean train queries by id.
        rate: fraction of queries given a noisy copy, in [0, 1]; 0 gives none, 1 gives every
            query with an editable token.
        seed: run seed (``curriculum.seed`` in the pipeline configuration).
        operations: names from :data:`OPERATIONS` allowed.

    Returns:
        Noisy copies by the id of their clean query, whose labels they inherit; write them
        with ``augmented=True``.

    Raises:
        ValueError: ``rate`` is outside [0, 1], or ``operations`` is empty or names an
            unknown operation.

    Example:
        >>> typos = choose_typos({1: "cordless drill", 2: "3/4 in 10 ft"}, rate=1.0, seed=7)
        >>> sorted(typos), typos[1].text != "cordless drill"
        ([1], True)
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(
            f"typo rate must be a fraction in [0, 1], got {rate!r}; "
            "set curriculum.typo_rate to e.g. 0.15"
        )
    _check_operations(operations)
    chosen: dict[int, Typo] = {}
    for query_id, text in queries.items():
        rng = _query_rng(seed, text)
        if rng.random() >= rate:
            continue
        typo = add_typo(text, rng, operations)
        if typo is not None:
            chosen[query_id] = typo
    return chosen
