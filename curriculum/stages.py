"""Training stages built from the levels, and the graded list.

| stage | loss family                  | from levels | one example                          |
|-------|------------------------------|-------------|--------------------------------------|
| 1     | BCE (pointwise)              | 1 + 5       | (query, product, label 1.0 / 0.0)    |
| 2     | MultipleNegativesRanking     | 2 + 3       | (anchor, positive, hard negative)    |
| 3     | Triplet                      | 4 (+ a positive of level 1 or 2) | (anchor, positive, token-similar negative) |
| 0     | graded list (not a stage)    | every graded candidate | (query, product, grade 0–3)  |

Train in the order 1 → 2 → 3: the paper this project follows reports that ending on BCE hurts.

Stages 2 and 3 pair each query's positives with its negatives: every positive is used, each
with up to ``negatives_per_positive`` negatives, and every negative is used once when there are
enough positives. Pairing is by seeded shuffles, so a build is reproducible. A query with
negatives but no positive (or the reverse) gives no triplet; those items are counted as
``unpaired``.

The level stored with a stage-2 or stage-3 example is its negative's level (the difficulty it
teaches); a stage-1 example keeps its product's level; a graded-list row keeps the level its
product was placed at, or 0 when it was left out (demoted).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from core.hashing import seeded_int
from curriculum.levels import GradedCandidate, Leveled

__all__ = [
    "GRADED_LIST",
    "STAGES",
    "STAGE_LEVELS",
    "Example",
    "StageCounts",
    "build_stages",
    "graded_list",
]

GRADED_LIST = 0
STAGES: dict[int, str] = {1: "stage1_bce", 2: "stage2_mnr", 3: "stage3_triplet"}
STAGE_LEVELS: dict[int, tuple[int, ...]] = {1: (1, 5), 2: (2, 3), 3: (4,)}


@dataclass(frozen=True, slots=True)
class Example:
    """One row of a stage: pointwise rows set ``product_id``'s slot by polarity and a label."""

    stage: int
    level: int
    query_id: int
    positive_id: int | None
    negative_id: int | None
    label: float | None = None


@dataclass
class StageCounts:
    per_stage: Counter[int] = field(default_factory=Counter)
    unpaired: Counter[int] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        return {
            "per_stage": {STAGES.get(k, "graded"): v for k, v in sorted(self.per_stage.items())},
            "unpaired": {STAGES[k]: v for k, v in sorted(self.unpaired.items())},
        }


def _rng(seed: int, stage: int, query_key: int | str) -> random.Random:
    return random.Random(seeded_int(seed, stage, query_key))


def _pair_up(
    positives: Sequence[Leveled],
    negatives: Sequence[Leveled],
    per_positive: int,
    rng: random.Random,
    product_key: Callable[[int], int | str],
) -> list[tuple[Leveled, Leveled]]:
    """Every positive with up to ``per_positive`` negatives; every negative used if possible."""
    if not positives or not negatives:
        return []
    pos = sorted(positives, key=lambda x: product_key(x.product_id))
    neg = sorted(negatives, key=lambda x: product_key(x.product_id))
    rng.shuffle(pos)
    rng.shuffle(neg)
    rows = min(max(len(pos), len(neg)), per_positive * len(pos))
    return [(pos[i % len(pos)], neg[i % len(neg)]) for i in range(rows)]


def _key_of(keys: Mapping[int, str] | None) -> Callable[[int], int | str]:
    if keys is None:
        return lambda store_id: store_id
    return lambda store_id: keys[store_id]


def build_stages(
    placed: Iterable[Leveled],
    *,
    negatives_per_positive: int = 1,
    seed: int = 0,
    query_keys: Mapping[int, str] | None = None,
    product_keys: Mapping[int, str] | None = None,
) -> tuple[list[Example], StageCounts]:
    """Stage 1–3 examples from placed candidates (see the module docstring).

    ``query_keys`` and ``product_keys`` (store id → external id) seed and order the pairing by
    what the data says rather than by the ids a database handed out, so two stores holding the
    same data pair the same way; without them the store ids are used.
    """
    query_key = _key_of(query_keys)
    product_key = _key_of(product_keys)
    if negatives_per_positive < 1:
        raise ValueError(f"negatives_per_positive must be >= 1, got {negatives_per_positive}")
    by_query: dict[int, dict[int, list[Leveled]]] = defaultdict(lambda: defaultdict(list))
    for item in placed:
        by_query[item.query_id][item.level].append(item)
    examples: list[Example] = []
    counts = StageCounts()
    for qid in sorted(by_query):
        levels = by_query[qid]
        for item in sorted(levels[1] + levels[5], key=lambda x: (x.level, x.product_id)):
            if item.relevant:
                examples.append(Example(1, item.level, qid, item.product_id, None, 1.0))
            else:
                examples.append(Example(1, item.level, qid, None, item.product_id, 0.0))
        for stage, positives, negatives in (
            (2, levels[2], levels[3]),
            (3, levels[1] + levels[2], levels[4]),
        ):
            rng = _rng(seed, stage, query_key(qid))
            pairs = _pair_up(positives, negatives, negatives_per_positive, rng, product_key)
            used = {p.product_id for p, _ in pairs} | {n.product_id for _, n in pairs}
            # the items this stage exists for (stage 3 borrows its positives from levels 1-2)
            own = positives + negatives if stage == 2 else negatives
            counts.unpaired[stage] += sum(x.product_id not in used for x in own)
            examples.extend(
                Example(stage, n.level, qid, p.product_id, n.product_id) for p, n in pairs
            )
    counts.per_stage.update(e.stage for e in examples)
    return examples, counts


def graded_list(candidates: Iterable[GradedCandidate], placed: Iterable[Leveled]) -> list[Example]:
    """Every graded candidate as a pointwise (query, product, grade) row (stage 0)."""
    level_of = {(p.query_id, p.product_id): p.level for p in placed}
    return [
        Example(
            GRADED_LIST,
            level_of.get((c.query_id, c.product_id), 0),
            c.query_id,
            c.product_id,
            None,
            float(c.grade),
        )
        for c in sorted(candidates, key=lambda c: (c.query_id, c.product_id))
        if c.grade is not None
    ]
