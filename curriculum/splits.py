"""Leakage-safe train/validation splits: by query, and optionally by product.

Every query goes to ``train`` or ``validation`` by a seeded hash of its external id, so all of
a query's examples land on one side, the split does not depend on row order, and adding
queries never moves old ones. With ``split_by_product`` products are split the same way (with
their own salt) and an example is kept only when every product in it is on its query's side;
examples whose products cross the split are dropped and counted. Neither a query nor, when
asked, a product then appears in both splits.

There is no split by time: the store keeps no event timestamps for queries or labels (only
ingest times), so a time split would be a split by ingest order. Ingest later data as new
queries and they fall on either side by hash like any other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from core.hashing import seeded_unit
from curriculum.stages import Example

__all__ = ["SPLIT_NAMES", "SplitCounts", "hash_split", "split_examples"]

SPLIT_NAMES = ("train", "validation")


def hash_split(key: str, validation_fraction: float, seed: int = 0, salt: str = "query") -> str:
    """``validation`` for a seeded-hash share ``validation_fraction`` of keys, else ``train``."""
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    return "validation" if seeded_unit(seed, salt, key) < validation_fraction else "train"


@dataclass
class SplitCounts:
    queries: Counter[str] = field(default_factory=Counter)
    examples: Counter[str] = field(default_factory=Counter)
    dropped_crossing_products: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "queries": dict(self.queries),
            "examples": dict(self.examples),
            "dropped_crossing_products": self.dropped_crossing_products,
        }


def split_examples(
    examples: Iterable[Example],
    query_keys: Mapping[int, str],
    *,
    validation_fraction: float,
    seed: int = 0,
    product_keys: Mapping[int, str] | None = None,
) -> tuple[list[tuple[Example, str]], SplitCounts]:
    """Each example with its split; with ``product_keys``, crossing examples are dropped.

    Args:
        examples: stage and graded-list rows.
        query_keys: query id → external id (the hash key).
        validation_fraction: share of queries (and products) held out.
        seed: the split seed.
        product_keys: product id → external id; given only when splitting by product.
    """
    query_side = {
        qid: hash_split(key, validation_fraction, seed, "query") for qid, key in query_keys.items()
    }
    product_side: dict[int, str] = {}
    counts = SplitCounts()
    out: list[tuple[Example, str]] = []
    seen_queries: dict[str, set[int]] = {name: set() for name in SPLIT_NAMES}
    for example in examples:
        side = query_side[example.query_id]
        if product_keys is not None:
            products = [p for p in (example.positive_id, example.negative_id) if p is not None]
            for pid in products:
                if pid not in product_side:
                    product_side[pid] = hash_split(
                        product_keys[pid], validation_fraction, seed, "product"
                    )
            if any(product_side[p] != side for p in products):
                counts.dropped_crossing_products += 1
                continue
        out.append((example, side))
        seen_queries[side].add(example.query_id)
        counts.examples[side] += 1
    counts.queries.update({name: len(ids) for name, ids in seen_queries.items()})
    return out, counts
