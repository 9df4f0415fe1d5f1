"""A query's candidate rows: its disagreement sets, then its sampled negatives.

:func:`classify_query` turns one query's rank matrix (:func:`miners.disagreement.rank_matrix`)
and its sampled negatives into the rows mining writes to ``candidates``; :class:`RanksJson`
writes each row's ``ranks`` JSON straight from the rank matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from miners.disagreement import SET_COMBOS, Cutoffs, set_codes
from store.bulk import json_text

__all__ = ["QueryCandidates", "RanksJson", "classify_query"]

_RANDOM_JSON = '{"sets":["random_negative"]}'


@dataclass(frozen=True)
class QueryCandidates:
    """One query's mined candidates: ``(product id, candidate set, ranks)`` rows, ``ranks`` the
    JSON text of the ``candidates.ranks`` column."""

    query_id: int
    rows: list[tuple[int, str, str]]


class RanksJson:
    """Writes the ``candidates.ranks`` JSON of disagreement-set members without building dicts:
    each channel's rank where it retrieved the product, then every set it qualified for.

    The text is what :func:`store.bulk.json_text` gives for the same dict (byte for byte); at
    two million candidates a run, building and serialising dicts was most of the store step.

    Example:
        >>> RanksJson(["bm25", "dense"]).text([3, 0], 4)
        '{"bm25":3,"sets":["hard_negative"]}'
    """

    def __init__(self, channels: Sequence[str]) -> None:
        self.channels = list(channels)
        self.keys = [json_text(c) + ":" for c in channels]
        self.tails = {
            code: ',"sets":' + json_text(list(combo)) + "}" for code, combo in SET_COMBOS.items()
        }

    def text(self, ranks: Sequence[int], code: int) -> str:
        """The JSON for one product's ranks (0 = not retrieved) and :func:`set_codes` code."""
        body = ",".join([key + str(r) for key, r in zip(self.keys, ranks, strict=True) if r])
        return "{" + body + self.tails[code]


def classify_query(
    query_id: int,
    table: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]],
    cutoffs: Cutoffs,
    token: Sequence[tuple[int, float]],
    randoms: Sequence[int],
    ranks_json: RanksJson,
) -> QueryCandidates:
    """Sort one query's retrieved products into disagreement sets, then add its sampled negatives.

    Pure: ``table`` is the query's :func:`miners.disagreement.rank_matrix` over the channels of
    ``ranks_json`` (in that order), ``token`` the TF-IDF negatives with their scores, ``randoms``
    the random negatives.

    Example:
        >>> from miners.disagreement import rank_matrix
        >>> channels = ["bm25", "dense"]
        >>> table = rank_matrix({"bm25": np.array([1, 2]), "dense": np.array([1, 3])}, channels)
        >>> for row in classify_query(7, table, Cutoffs(), [(4, 0.5)], [9], RanksJson(channels)).rows:
        ...     print(row)
        (1, 'easy_positive', '{"bm25":1,"dense":1,"sets":["easy_positive"]}')
        (2, 'hard_positive', '{"bm25":2,"sets":["hard_positive","hard_negative"]}')
        (3, 'hard_negative', '{"dense":2,"sets":["hard_negative"]}')
        (4, 'token_negative', '{"tfidf":0.5,"sets":["token_negative"]}')
        (9, 'random_negative', '{"sets":["random_negative"]}')
    """
    products, ranks = table
    codes = set_codes(ranks, cutoffs, ranks_json.channels)
    keep = codes > 0
    text = ranks_json.text
    rows = [
        (pid, SET_COMBOS[code][0], text(row, code))
        for pid, row, code in zip(
            products[keep].tolist(), ranks[keep].tolist(), codes[keep].tolist(), strict=True
        )
    ]
    for pid, score in token:
        rows.append(
            (
                pid,
                "token_negative",
                json_text({"tfidf": round(score, 6), "sets": ["token_negative"]}),
            )
        )
    rows.extend((pid, "random_negative", _RANDOM_JSON) for pid in randoms)
    return QueryCandidates(query_id, rows)
