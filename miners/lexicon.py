"""The catalog lexicon: brands, product types and attribute values, and query matching.

A production catalog search first recognises catalog terms in the query ("dewalt" is a
brand, "cordless drill" a product type, "20 volt" an attribute value), then searches those
fields. This module builds that dictionary of terms and matches queries against it.

Products and queries are normalised alike (:func:`miners.terms.terms`: canonical
measurements, the shared tokenizer, light plural folding).

Where each field's terms come from (:func:`build_lexicon`; the thresholds named below are
:class:`LexiconRules`). A field is *structured* when at least ``structured_min_share`` of the
products have a value for it; its terms are then the
normalised values (for ``product_type``, the last segment of a ``A > B > C`` path, and its
final n-grams: "cordless drill" makes "drill" a type term too). Otherwise the field is
*derived from the titles*, deterministically:

- brand: a leading n-gram of the title (at most ``max_brand_tokens``; the first token must
  contain a letter, the others only letters; units and dimension words stop it) is a brand
  when it starts at least ``min_brand_count`` titles and at least ``brand_min_start_share``
  of its occurrences start a title (so "white" or "wire", frequent first words that occur
  everywhere, are not brands, while "black decker" is). A title's brand is its shortest such
  n-gram, extended one token at a time while the longer one is a brand too and keeps at least
  ``brand_extend_ratio`` of the shorter one's titles ("simpson" → "simpson strong tie", but
  "delta" stays "delta" although a few titles start "delta vero").
- product type: the title is cut before trailing parentheses, a `` - ...`` or "discontinued"
  tail, the first " with " or " for ", and " in <Capitalised words or colour/finish>";
  trailing measurements and colours are dropped; the type is the longest final n-gram of
  letter tokens (at most ``max_type_tokens``) that ends at least ``min_type_count`` titles.
- attributes (always, structured or not): the measurements and the colours/finishes of
  :data:`miners.terms.COLOURS` found in the title, plus the structured attribute values when there are any
  (those with a letter — a bare "2" means nothing without its key —, not yes/no, and at most
  ``max_attribute_tokens`` terms long).

Every prefix (brand) or suffix (type) that reaches its count joins the dictionary, so
"simpson" and "simpson strong tie" are both brand terms.

Query matching (:meth:`Lexicon.match`): greedy leftmost-longest match of dictionary n-grams
over the normalised query tokens; a phrase listed in several fields matches all of them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import StoreError
from miners.terms import (
    COLOUR_PATTERN,
    COLOUR_TERMS,
    STOP,
    colours,
    is_word,
    measurements,
    terms,
)
from store.catalog import ProductDoc

__all__ = [
    "FIELDS",
    "Lexicon",
    "LexiconRules",
    "Match",
    "ProductTerms",
    "QueryMatch",
    "build_lexicon",
]

FIELDS = ("brand", "product_type", "attributes")
_FORMAT = "dissent-catalog-lexicon/1"


@dataclass(frozen=True)
class LexiconRules:
    """The thresholds that decide which fields are structured and which n-grams of titles are
    brands, product types and attribute values (the module docstring says how each is used).

    They are fixed for the product; :func:`build_lexicon` takes another set for experiments.
    """

    structured_min_share: float = 0.5  # share of products with a field to use it as is
    min_brand_count: int = 3  # titles a derived brand starts
    max_brand_tokens: int = 3
    brand_extend_ratio: float = 0.3  # share of titles a longer brand prefix must keep
    brand_min_start_share: float = 0.5  # share of a brand's occurrences that start a title
    min_type_count: int = 3  # titles a derived type ends
    max_type_tokens: int = 3
    max_attribute_tokens: int = 3  # longer structured values are skipped


_TAIL = re.compile(r"\s*(?:\([^()]*\)|(?i:\W*discontinued)|\s-\s[^-]*)\s*$")
_NOT_VALUES = frozenset({"yes", "no", "true", "false", "none", "n a"})


_TYPE_CUT = re.compile(
    rf"\s(?i:with|for)\s|(?<![\d.])\s(?i:in)\s+(?:[A-Z]|(?i:{COLOUR_PATTERN})\b)"
)


def _type_tail(title: str, max_tokens: int) -> tuple[str, ...]:
    """The last ``max_tokens`` letter tokens of the title's product-type part."""
    text = title
    while (stripped := _TAIL.sub("", text)) != text:
        text = stripped
    cut = _TYPE_CUT.search(text)
    tokens = terms(text[: cut.start()] if cut else text)
    while tokens:
        if not is_word(tokens[-1]):
            tokens.pop()
        elif any(tuple(tokens[-n:]) in COLOUR_TERMS for n in (1, 2, 3) if n < len(tokens)):
            n = max(n for n in (1, 2, 3) if n < len(tokens) and tuple(tokens[-n:]) in COLOUR_TERMS)
            del tokens[-n:]
        else:
            break
    tail: list[str] = []
    for token in reversed(tokens):
        if not is_word(token) or len(tail) == max_tokens:
            break
        tail.insert(0, token)
    return tuple(tail)


def _brand_head(tokens: Sequence[str], max_tokens: int) -> tuple[str, ...]:
    """The leading tokens that may form a brand (letters only after a first alphanumeric)."""
    head: list[str] = []
    for i, token in enumerate(tokens[: min(max_tokens, len(tokens) - 1)]):
        first_ok = any(c.isalpha() for c in token) and len(token) > 1 and token not in STOP
        if not (first_ok if i == 0 else is_word(token)):
            break
        head.append(token)
    return tuple(head)


@dataclass(frozen=True, slots=True)
class ProductTerms:
    """One product's catalog fields as normalised term strings (what the index stores)."""

    brand: str
    product_type: str
    attributes: tuple[str, ...]
    title: str


@dataclass(frozen=True, slots=True)
class Match:
    """One dictionary phrase found in a query, and the fields it is a term of."""

    phrase: tuple[str, ...]
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueryMatch:
    """A query's normalised tokens, its dictionary matches, and the tokens left unmatched."""

    tokens: tuple[str, ...]
    matches: tuple[Match, ...]
    rest: tuple[str, ...]


class Lexicon:
    """Dictionary of catalog terms per field, with leftmost-longest query matching.

    Args:
        terms: field name (one of :data:`FIELDS`) → term strings (normalised, space-joined).
        sources: field name → ``"structured"`` or ``"titles"`` (for reports).
    """

    def __init__(self, terms: dict[str, list[str]], sources: dict[str, str]) -> None:
        self.terms = {f: sorted(set(terms.get(f, []))) for f in FIELDS}
        self.sources = dict(sources)
        index: dict[tuple[str, ...], list[str]] = {}
        for field in FIELDS:
            for term in self.terms[field]:
                index.setdefault(tuple(term.split()), []).append(field)
        self._index = {phrase: tuple(fields) for phrase, fields in index.items() if phrase}
        self._max_len = max((len(p) for p in self._index), default=0)

    def match(self, query: str) -> QueryMatch:
        """Find dictionary terms in ``query``: ``"dewalt cordless drills"`` → brand "dewalt",
        product_type "cordless drill" (when both are terms)."""
        tokens = terms(query)
        matches: list[Match] = []
        rest: list[str] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self._max_len, len(tokens) - i), 0, -1):
                fields = self._index.get(tuple(tokens[i : i + n]))
                if fields:
                    matches.append(Match(tuple(tokens[i : i + n]), fields))
                    i += n
                    break
            else:
                rest.append(tokens[i])
                i += 1
        return QueryMatch(tuple(tokens), tuple(matches), tuple(rest))

    def to_json(self) -> dict[str, Any]:
        return {"format": _FORMAT, "sources": self.sources, "terms": self.terms}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lexicon:
        if data.get("format") != _FORMAT:
            raise StoreError(
                f"not a catalog lexicon: format {data.get('format')!r}, want {_FORMAT}"
            )
        return cls(data["terms"], data["sources"])

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        """Read a lexicon written by :meth:`save`.

        Raises:
            StoreError: the file is missing or is not a lexicon.
        """
        try:
            return cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"cannot read the catalog lexicon {path}: {exc}") from exc


def _derive_brands(
    titles: Sequence[Sequence[str]], config: LexiconRules
) -> tuple[list[str], set[str]]:
    """Each title's brand, and the brand terms (see the module docstring)."""
    heads = [_brand_head(t, config.max_brand_tokens) for t in titles]
    starts = Counter(h[:i] for h in heads for i in range(1, len(h) + 1))
    wanted = {g for g, c in starts.items() if c >= config.min_brand_count}
    anywhere: Counter[tuple[str, ...]] = Counter()
    for t in titles:
        for i in range(len(t)):
            anywhere.update(g for n in range(1, 4) if (g := tuple(t[i : i + n])) in wanted)

    def valid(g: tuple[str, ...]) -> bool:
        return g in wanted and starts[g] >= config.brand_min_start_share * anywhere[g]

    brands: list[str] = []
    found: set[str] = set()
    for head in heads:
        sizes = [n for n in range(1, len(head) + 1) if valid(head[:n])]
        size = sizes[0] if sizes else 0
        for n in sizes[1:]:
            if n != size + 1 or starts[head[:n]] < config.brand_extend_ratio * starts[head[:size]]:
                break
            size = n
        brands.append(" ".join(head[:size]))
        found.update(" ".join(head[:n]) for n in sizes if n <= size)
    return brands, found


def _attribute_value(term: str, max_tokens: int) -> bool:
    """A structured value worth a term: has a letter (not a bare count), is not yes/no, short."""
    return (
        any(c.isalpha() for c in term)
        and term not in _NOT_VALUES
        and len(term.split()) <= max_tokens
    )


def _has(value: object) -> bool:
    return bool(value and (not isinstance(value, str) or value.strip()))


def build_lexicon(
    products: Sequence[ProductDoc], config: LexiconRules | None = None
) -> tuple[Lexicon, list[ProductTerms]]:
    """Build the dictionary and each product's fields (see the module docstring), by
    ``config`` (default: :class:`LexiconRules`'s).

    Returns:
        The lexicon and one :class:`ProductTerms` per product, in input order.
    """
    config = config or LexiconRules()
    n = max(len(products), 1)
    structured = {
        f: sum(_has(getattr(p, f)) for p in products) / n >= config.structured_min_share
        for f in FIELDS
    }
    titles = [terms(p.title) for p in products]
    vocab: dict[str, set[str]] = {f: set() for f in FIELDS}

    brands = [""] * len(products)
    if structured["brand"]:
        brands = [" ".join(terms(p.brand or "")) for p in products]
        vocab["brand"].update(b for b in brands if b)
    else:
        brands, brand_terms = _derive_brands(titles, config)
        vocab["brand"].update(brand_terms)

    types = [""] * len(products)
    if structured["product_type"]:
        for j, p in enumerate(products):
            tokens = terms(re.split(r"\s*[>|]\s*", p.product_type or "")[-1])
            types[j] = " ".join(tokens)
            vocab["product_type"].update(" ".join(tokens[i:]) for i in range(len(tokens)))
    else:
        tails = [_type_tail(p.title, config.max_type_tokens) for p in products]
        counts = Counter(t[-i:] for t in tails for i in range(1, len(t) + 1))
        for j, tail in enumerate(tails):
            fits = [
                i for i in range(1, len(tail) + 1) if counts[tail[-i:]] >= config.min_type_count
            ]
            types[j] = " ".join(tail[-max(fits) :]) if fits else ""
            vocab["product_type"].update(" ".join(tail[-i:]) for i in fits)

    docs = []
    for j, p in enumerate(products):
        attributes = [*measurements(p.title), *colours(titles[j])]
        if structured["attributes"]:
            for value in p.attributes.values():
                term = " ".join(terms(str(value)))
                if _attribute_value(term, config.max_attribute_tokens):
                    attributes.append(term)
        attrs = tuple(dict.fromkeys(a for a in attributes if a))
        vocab["attributes"].update(attrs)
        docs.append(ProductTerms(brands[j], types[j], attrs, " ".join(titles[j])))
    sources = {f: "structured" if structured[f] else "titles" for f in FIELDS}
    lexicon = Lexicon({f: sorted(v) for f, v in vocab.items()}, sources)
    return lexicon, docs
