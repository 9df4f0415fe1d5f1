"""Character-trigram title search: the catalog channel's spelling-tolerant matcher.

A retailer's catalog search forgives what BM25 over whole words does not: a misspelt query
word ("refrigirator", "dewlat"), words run together or split ("dishwasher" / "dish washer"),
a stem or plural that the word index keeps apart. It does so by matching pieces of words. The
catalog channel (its default ``title_search``, ``trigrams``) uses this index to fill what its
recognised catalog fields leave empty, so that it finds, for a reason, products BM25 over
title words misses.

Indexing (:meth:`TrigramIndex.build`): every title is cut into the shared tokenizer's tokens
(:func:`core.tokenize.tokenize`: lower-case, letters and digits, accents folded, stopwords
dropped); each token, padded with one space on each side, gives its overlapping three-character
grams (``"drill"`` → ``" dr"``, ``"dri"``, ``"ril"``, ``"ill"``, ``"ll "``). A title is a TF-IDF
vector over its grams — sublinear term frequency ``1 + ln(tf)``, smoothed inverse document
frequency ``1 + ln((1 + n) / (1 + df))``, unit length — the weighting of scikit-learn's
``TfidfVectorizer(analyzer="char_wb", sublinear_tf=True)``. Grams found in fewer than
``min_df`` titles are dropped: they can only match one product and mostly are typos.

Searching: a query's grams are weighted the same way (grams the catalog lacks are ignored);
a product's score is the cosine of the two vectors, in [0, 1]. Queries run in chunks as one
sparse matrix product; ties are broken by the smaller product id.

Example:
    >>> titles = ["Cordless Drill", "Drill Bit Set", "Refrigerator"]
    >>> index = TrigramIndex.build([1, 2, 3], titles, min_df=1)
    >>> [[pid for pid, _ in hits] for hits in index.search(["refrigirator", "cordles dril"], 2)]
    [[3], [1, 2]]
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import sparse

from core.errors import StoreError
from core.tokenize import tokenize

__all__ = ["TrigramIndex", "grams"]

_FORMAT = "dissent-trigrams/1"
_CHUNK = 512  # queries per sparse product: bounds the memory of one product at 10x catalogs


def grams(text: str) -> Counter[str]:
    """The character trigrams of ``text``'s tokens, each token padded with spaces.

    Example:
        >>> sorted(grams("Drill"))
        [' dr', 'dri', 'ill', 'll ', 'ril']
    """
    out: Counter[str] = Counter()
    for token in tokenize(text):
        padded = f" {token} "
        out.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return out


class TrigramIndex:
    """Titles as TF-IDF vectors over character trigrams (see the module docstring).

    Build one with :meth:`build` or :meth:`load`; the constructor takes the parts as arrays.
    """

    def __init__(
        self, ids: np.ndarray, vocabulary: Sequence[str], idf: np.ndarray, matrix: sparse.csr_matrix
    ) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vocabulary = {g: i for i, g in enumerate(vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.matrix = matrix.tocsr().astype(np.float32)
        self._by_gram = self.matrix.T.tocsr()  # gram -> products, for the query products

    @classmethod
    def build(cls, ids: Sequence[int], titles: Sequence[str], min_df: int = 2) -> TrigramIndex:
        """Index ``titles`` (one per product id in ``ids``, same order).

        One pass over the titles into compact arrays (about 12 bytes per distinct gram of a
        title: half a GiB for a catalog of 550,000 products), then weighting in numpy.
        """
        if len(ids) != len(titles):
            raise StoreError(f"trigram index: {len(ids)} ids but {len(titles)} titles")
        seen: dict[str, int] = {}
        indptr, columns, counts = array("q", [0]), array("q"), array("f")
        for title in titles:
            found = grams(title)
            columns.extend(seen.setdefault(g, len(seen)) for g in found)
            counts.extend(found.values())
            indptr.append(len(columns))
        column = np.frombuffer(columns, np.int64) if columns else np.zeros(0, np.int64)
        df = np.bincount(column, minlength=len(seen))
        n = len(titles)
        idf = (1.0 + np.log((1.0 + n) / (1.0 + df))).astype(np.float32)
        tf = np.frombuffer(counts, np.float32) if counts else np.zeros(0, np.float32)
        full = sparse.csr_matrix(
            ((1.0 + np.log(tf)) * idf[column], column, np.frombuffer(indptr, np.int64)),
            shape=(n, len(seen)),
        )
        kept = np.flatnonzero(df >= min_df)
        names = list(seen)
        return cls(
            np.asarray(ids, np.int64), [names[j] for j in kept], idf[kept], _unit(full[:, kept])
        )

    def _vectors(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Unit TF-IDF rows of ``texts`` over this index's grams (unknown grams ignored)."""
        indptr, indices, data = [0], [], []
        for text in texts:
            for g, tf in grams(text).items():
                j = self.vocabulary.get(g)
                if j is not None:
                    indices.append(j)
                    data.append((1.0 + math.log(tf)) * float(self.idf[j]))
            indptr.append(len(indices))
        matrix = sparse.csr_matrix(
            (np.asarray(data, np.float32), np.asarray(indices, np.int64), indptr),
            shape=(len(texts), len(self.vocabulary)),
        )
        return _unit(matrix)

    def __len__(self) -> int:
        return len(self.ids)

    def search(
        self, queries: Sequence[str], k: int, exclude: Sequence[set[int]] | None = None
    ) -> list[list[tuple[int, float]]]:
        """Per query, up to ``k`` ``(product id, cosine)`` pairs, best first; products with no
        gram in common are never returned, nor those in the query's ``exclude`` set."""
        return [
            list(zip(ids.tolist(), values.tolist(), strict=True))
            for ids, values in self.search_arrays(queries, k, exclude)
        ]

    def search_arrays(
        self, queries: Sequence[str], k: int, exclude: Sequence[set[int]] | None = None
    ) -> list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """:meth:`search` as ``(product ids, cosines)`` arrays per query (what the catalog
        channel reads: no Python pair per hit)."""
        if k < 1:
            raise StoreError(f"trigram index: k must be at least 1, got {k}")
        out: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
        for start in range(0, len(queries), _CHUNK):
            chunk = queries[start : start + _CHUNK]
            scores = (self._vectors(chunk) @ self._by_gram).tocsr()
            for i in range(len(chunk)):
                row = slice(scores.indptr[i], scores.indptr[i + 1])
                ids, values = self.ids[scores.indices[row]], scores.data[row]
                if exclude is not None and exclude[start + i]:
                    banned = np.fromiter(exclude[start + i], np.int64, len(exclude[start + i]))
                    keep = ~np.isin(ids, banned)
                    ids, values = ids[keep], values[keep]
                if len(ids) > k:
                    cut = np.argpartition(-values, k - 1)[:k]
                    # keep every tie of the k-th score, so that ids break ties, not argpartition
                    cut = np.flatnonzero(values >= values[cut].min())
                    ids, values = ids[cut], values[cut]
                order = np.lexsort((ids, -values))[:k]
                out.append((ids[order], values[order]))
        return out

    def save(self, path: Path) -> None:
        """Write the index to ``path`` (one ``.npz`` file, no pickles)."""
        m = self.matrix
        vocabulary = np.array(sorted(self.vocabulary, key=self.vocabulary.__getitem__))
        np.savez(
            path,
            format=np.array(_FORMAT),
            ids=self.ids,
            vocabulary=vocabulary,
            idf=self.idf,
            data=m.data,
            indices=m.indices,
            indptr=m.indptr,
            shape=np.array(m.shape),
        )

    @classmethod
    def load(cls, path: Path) -> TrigramIndex:
        """Read what :meth:`save` wrote.

        Raises:
            StoreError: the file is missing, unreadable or not a trigram index.
        """
        try:
            with np.load(path, allow_pickle=False) as f:
                if str(f["format"]) != _FORMAT:
                    raise StoreError(f"trigram index: {path} is not a {_FORMAT} file")
                matrix = sparse.csr_matrix(
                    (f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"])
                )
                return cls(f["ids"], [str(g) for g in f["vocabulary"]], f["idf"], matrix)
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(f"trigram index: cannot read {path}: {exc}") from exc


def _unit(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """``matrix`` with every non-empty row scaled to unit length."""
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1), np.float64).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags((1.0 / norms).astype(np.float32)) @ matrix)
