"""The ``catalog`` channel: the catalog's own lexical search, run by the database's full-text index.

It behaves like a production catalog search, not like BM25 over titles: it first recognises
catalog terms in the query, then ranks products by how many of the recognised *fields* they
match, and only then by text relevance.

Indexing (:meth:`CatalogChannel.index`): :func:`miners.lexicon.build_lexicon` gives every
product four fields of normalised terms — brand, product type, attribute values and title —
taken from structured fields where the catalog has them and derived from titles where it has
only titles. They replace the contents of the store's full-text table (:mod:`store.fulltext`:
SQLite FTS5 or a weighted PostgreSQL ``tsvector``).

Querying: the query is normalised like the products (:func:`miners.terms.terms`; it can
only yield ``[a-z0-9]`` tokens, so quotes, hyphens, colons or asterisks in a query cannot
reach the full-text syntax) and matched against the lexicon (leftmost-longest). The full-text
query is the OR of

- each recognised term as a phrase, restricted to the field(s) it is a term of (FTS5 column
  filter ``brand : "simpson strong tie"``; tsquery ``'dewalt':B``). A product type is the
  head of a product's name, so a type term must *end* the product's type: the type column
  ends with the marker token ``0end0`` and the phrase is searched with it (``"drill 0end0"``
  matches "cordless drill" but not "drill bit set");
- every query word against the title alone, so that products whose fields were not recognised
  are still found (after those that match fields), and a query with no dictionary match falls
  back to a title search.

``title_search`` (a constructor argument; the product uses :data:`TITLE_SEARCH`) says how far
the title search reaches:

- ``trigrams`` (the default): products that match a recognised term first, as in ``never``;
  the slots they leave empty, and the whole list of a query with no recognised term, are filled
  by a character-trigram search of titles (:mod:`miners.trigrams`), not by the title words. It
  forgives misspelt, run-together and split words the way a retailer's fuzzy matching does, so
  the channel finds, for a reason, products BM25 over title words misses. The trigram index is
  kept in memory and saved beside the lexicon.
- ``always``: every query word is also searched in titles. On a titles-only catalog this makes
  the channel close to BM25 over titles.
- ``unrecognised``: for a query in which catalog terms were recognised, only products that
  match at least one of them are returned (the query's title words still order products that
  match the same number of fields); a query with no recognised term is searched in titles.
- ``never``: like ``unrecognised``, but a query with no recognised term finds nothing: a pure
  field-matching catalog.

``python -m bench.mining`` compares the four (overlap with BM25, recall; README, "Mine").

Ranking, best first:

1. the number of distinct fields (product type, brand, attributes) in which the product
   matches at least one recognised term: a DEWALT drill (brand and type) beats a drill of
   another brand (type only), which beats a drill bit set whose title says "drill" many
   times (title only);
2. the weighted full-text score with the column weights of ``config.field_weights``;
3. the product id, for ties;
4. (``trigrams`` only) after every product that matches a field, the trigram fill, by cosine
   and then product id.

Searching runs the queries in chunks on ``config.search_workers`` threads, each with its own
connection and one cursor (so PostgreSQL runs one server-side prepared statement per thread).

The reported score is ``fields + s / (1 + s)`` with ``s`` the full-text score: its integer part
is the number of fields matched. A trigram fill scores ``c / (1 + c)`` with ``c`` its cosine
(at most 0.5, below any field match). The two databases order fields alike; their text scores
differ in detail (bm25 against ts_rank).

Example:
    >>> from store.db import open_store
    >>> drills = [
    ...     ProductDoc(1, "DEWALT 20V Cordless Drill", brand="DEWALT", product_type="Drill"),
    ...     ProductDoc(2, "Makita 18V Cordless Drill", brand="Makita", product_type="Drill"),
    ...     ProductDoc(3, "DEWALT Drill Bit Set", brand="DEWALT", product_type="Drill Bit Set"),
    ... ]
    >>> channel = CatalogChannel(CatalogChannelConfig(), open_store("sqlite://"))
    >>> channel.index(drills)
    >>> [pid for pid, _ in channel.search(["dewalt drill"], k=3).row(0)]  # 1: brand and type
    [1, 3, 2]
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import Engine

from core.errors import StoreError
from miners.base import SearchResult
from miners.config import CatalogChannelConfig
from miners.lexicon import FIELDS, Lexicon, LexiconRules, ProductTerms, build_lexicon
from miners.trigrams import TrigramIndex
from store.catalog import ProductDoc
from store.fulltext import FullTextQuery, full_text_index

__all__ = ["TITLE_SEARCH", "CatalogChannel", "TitleSearch", "plan_query"]

log = logging.getLogger(__name__)

TitleSearch = Literal["trigrams", "always", "unrecognised", "never"]
TITLE_SEARCH: TitleSearch = "trigrams"
"""How far the product's catalog channel searches titles (the module docstring says why)."""
_INDEX_FORMAT = "dissent-catalog-index/1"
# Ends every product type, so that a type phrase can be anchored at the end of the type.
_END = "0end0"
_LEXICON_FILE, _INDEX_FILE = "catalog_lexicon.json", "catalog_index.json"
_TRIGRAM_FILE = "catalog_trigrams.npz"
_CHUNK = 256  # queries per connection checkout when ``search_workers`` threads share the work


def plan_query(lexicon: Lexicon, query: str, title_search: str = "always") -> FullTextQuery:
    """Match ``query`` against ``lexicon`` and group the phrases by field, as a full-text query.

    Example:
        >>> lexicon = Lexicon({"brand": ["dewalt"]}, {})
        >>> plan_query(lexicon, "dewalt hammer", "never")
        FullTextQuery(fields={'brand': (('dewalt',),)}, words=('dewalt', 'hammer'), gated=True)
        >>> plan_query(lexicon, "claw hammer", "unrecognised")
        FullTextQuery(fields={}, words=('claw', 'hammer'), gated=False)
        >>> plan_query(lexicon, "claw hammer", "never").words
        ()
        >>> plan_query(lexicon, "claw hammer", "trigrams").words  # the trigram index fills
        ()
    """
    found = lexicon.match(query)
    fields: dict[str, list[tuple[str, ...]]] = {}
    for m in found.matches:
        for field in m.fields:
            phrase = (*m.phrase, _END) if field == "product_type" else m.phrase
            fields.setdefault(field, []).append(phrase)
    ordered = {f: tuple(dict.fromkeys(fields[f])) for f in FIELDS if f in fields}
    words = tuple(dict.fromkeys(found.tokens))
    if title_search == "always":
        return FullTextQuery(ordered, words)
    if ordered:
        return FullTextQuery(ordered, words, gated=True)
    return FullTextQuery(
        ordered, words if title_search == "unrecognised" else ()
    )  # never, trigrams


class CatalogChannel:
    """The catalog's own lexical system (see the module docstring for how it ranks).

    Args:
        config: the ``mining.catalog`` config section (field weights, search threads).
        engine: a migrated store (SQLite or PostgreSQL); the channel keeps its full-text
            table there, beside the store's tables.
        title_search: how far titles are searched (:data:`TITLE_SEARCH` unless an experiment
            says otherwise).
        rules: the lexicon's thresholds (default :class:`miners.lexicon.LexiconRules`).

    Raises:
        StoreError: the store is neither SQLite nor PostgreSQL.
    """

    name = "catalog"

    def __init__(
        self,
        config: CatalogChannelConfig,
        engine: Engine,
        *,
        title_search: TitleSearch = TITLE_SEARCH,
        rules: LexiconRules | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.title_search = title_search
        self.rules = rules or LexiconRules()
        self.lexicon: Lexicon | None = None
        self.trigrams: TrigramIndex | None = None  # built for title_search: trigrams
        self._size = 0
        self._db = full_text_index(engine)
        dialect = engine.dialect.name
        self.weights = {**CatalogChannelConfig().field_weights, **config.field_weights}
        # An in-memory SQLite database exists once per connection: no worker threads there.
        self._in_memory = dialect == "sqlite" and engine.url.database in (None, "", ":memory:")

    def index(self, products: Sequence[ProductDoc]) -> None:
        """Build the lexicon and (re)create the full-text table over ``products``.

        Raises:
            StoreError: two products share an id.
        """
        ids = [p.id for p in products]
        if len(set(ids)) != len(ids):
            dup = Counter(ids).most_common(1)[0][0]
            raise StoreError(f"catalog channel: product ids must be unique, id {dup} repeats")
        lexicon, docs = build_lexicon(products, self.rules)
        self._db.create([(i, *_columns(d)) for i, d in zip(ids, docs, strict=True)])
        self.lexicon, self._size = lexicon, len(products)
        self.trigrams = None
        if self.title_search == "trigrams":
            self.trigrams = TrigramIndex.build(ids, [p.title for p in products])
        log.info(
            "catalog index: %d products, terms %s, sources %s",
            len(products),
            {f: len(t) for f, t in lexicon.terms.items()},
            lexicon.sources,
        )

    def search(self, queries: Sequence[str], k: int) -> SearchResult:
        """Top-``k`` products per query, best first (ids ``-1`` / scores ``-inf`` pad).

        Raises:
            StoreError: nothing was indexed or loaded, or ``k`` < 1.
        """
        if self.lexicon is None:
            raise StoreError("catalog channel: no index; call index() or load() first")
        if k < 1:
            raise StoreError(f"catalog channel: k must be at least 1, got {k}")
        plans = [plan_query(self.lexicon, q, self.title_search) for q in queries]
        chunks = [plans[i : i + _CHUNK] for i in range(0, len(plans), _CHUNK)]
        workers = min(self.config.search_workers, len(chunks))
        if self._in_memory or workers <= 1:
            batches = [self._db.search(chunk, k, self.weights) for chunk in chunks]
        else:
            with ThreadPoolExecutor(workers) as pool:
                batches = list(pool.map(lambda c: self._db.search(c, k, self.weights), chunks))
        rows_per_query = [rows for batch in batches for rows in batch]
        result = SearchResult.empty(len(queries), k)
        for i, rows in enumerate(rows_per_query):
            if rows:
                table = np.asarray(rows, dtype=np.float64)
                result.ids[i, : len(rows)] = table[:, 0].astype(np.int64)
                s = np.maximum(table[:, 2], 0.0)
                result.scores[i, : len(rows)] = table[:, 1] + s / (1.0 + s)
        if self.title_search == "trigrams":
            self._fill(queries, rows_per_query, result)
        return result

    def _fill(self, queries: Sequence[str], rows: list[Any], result: SearchResult) -> None:
        """Fill each list's empty slots from the trigram index (``title_search: trigrams``)."""
        if self.trigrams is None:
            raise StoreError("catalog channel: no trigram index; call index() or load() first")
        k = result.ids.shape[1]
        short = [i for i, r in enumerate(rows) if len(r) < k]
        hits = self.trigrams.search_arrays(
            [queries[i] for i in short], k, exclude=[{int(r[0]) for r in rows[i]} for i in short]
        )
        for i, (ids, cosines) in zip(short, hits, strict=True):
            n = len(rows[i])
            take = min(k - n, len(ids))
            cosine = cosines[:take].astype(np.float64)  # as the scores were always computed
            result.ids[i, n : n + take] = ids[:take]
            result.scores[i, n : n + take] = cosine / (1.0 + cosine)

    def save(self, directory: Path) -> None:
        """Write the lexicon and the index description as JSON files into ``directory``.

        The full-text table itself stays in the database.
        """
        if self.lexicon is None:
            raise StoreError("catalog channel: nothing to save; call index() first")
        directory.mkdir(parents=True, exist_ok=True)
        self.lexicon.save(directory / _LEXICON_FILE)
        if self.trigrams is not None:
            self.trigrams.save(directory / _TRIGRAM_FILE)
        meta = {
            "format": _INDEX_FORMAT,
            "dialect": self.engine.dialect.name,
            "products": self._size,
        }
        (directory / _INDEX_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")

    def load(self, directory: Path) -> None:
        """Read what :meth:`save` wrote and check the full-text table it describes.

        Raises:
            StoreError: the files are missing or unreadable, or the database's full-text table
                holds another number of products (run :meth:`index` again).
        """
        try:
            meta = json.loads((directory / _INDEX_FILE).read_text(encoding="utf-8"))
            size = int(meta["products"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(
                f"catalog channel: cannot read {directory / _INDEX_FILE}: {exc}"
            ) from exc
        if meta.get("format") != _INDEX_FORMAT:
            raise StoreError(f"catalog channel: {directory / _INDEX_FILE} is not a catalog index")
        if meta.get("dialect") != self.engine.dialect.name:
            raise StoreError(
                f"catalog channel: {directory} was indexed on {meta.get('dialect')}, this store is "
                f"{self.engine.dialect.name}; run index() on this store"
            )
        lexicon = Lexicon.load(directory / _LEXICON_FILE)
        rows = self._db.count()
        table = self._db.table
        if rows != size:
            raise StoreError(
                f"catalog channel: {table} holds {rows} products but {directory} was saved with "
                f"{size}; run index() again"
            )
        trigrams = None
        if self.title_search == "trigrams":
            if not (directory / _TRIGRAM_FILE).exists():
                raise StoreError(
                    f"catalog channel: {directory} has no trigram index (it was indexed with "
                    "another title_search); run index() again"
                )
            trigrams = TrigramIndex.load(directory / _TRIGRAM_FILE)
        self.lexicon, self._size, self.trigrams = lexicon, size, trigrams


def _columns(doc: ProductTerms) -> tuple[str, str, str, str]:
    product_type = f"{doc.product_type} {_END}" if doc.product_type else ""
    return doc.brand, product_type, " ; ".join(doc.attributes), doc.title
