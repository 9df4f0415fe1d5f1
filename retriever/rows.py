"""The training rows of each stage: the export's datasets, the human labels, and mixes of both.

A stage names its data (:data:`retriever.recipes.DataName`):

- an export dataset (``stage1_bce``, ``stage2_mnr``, ``stage3_triplet``, ``graded``): its
  ``train`` rows as they are;
- ``human``: (query, product text) for every human label of the *tier-training* split at or
  above the relevance cut-off, read from the store; evaluation queries never reach a stage
  (:class:`HumanLabels` may name one label source and other splits: a label-budget
  benchmark trains on the pairs it drew from the tier-training and calibration splits);
- ``mixed``: every curriculum example as an (anchor, positive, negative) triplet in one stage:
  stage 2 and 3 triplets, and each stage-1 positive paired with one of its query's stage-1
  negatives (a random stage-1 product where the query has none);
- ``human+mixed``: both, each capped on its own (``train.max_examples_per_stage``);
- ``human_hardneg``: the very pairs ``human`` samples, each with up to ``num_negatives``
  products the export holds as negatives of that query (any stage: candidates the channels
  retrieved and the cascade graded below the cut-off), never one of the query's
  human-relevant products; a pair whose query has none left stays a pair.

Every sample is seeded, so a stage's rows are the same on every run with the same inputs.
:class:`RowSource` reads each dataset and the human labels once per training run.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from core.errors import DissentError
from retriever.losses.base import Row
from retriever.recipes import Stage
from retriever.source import Export
from store.catalog import load_products, product_text
from store.schema import HumanLabel, Query
from store.splits import split_of

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings

__all__ = [
    "NUM_NEGATIVES",
    "HumanLabels",
    "RowSource",
    "capped",
    "datasets_read",
    "export_negatives",
    "mixed_rows",
    "stage_rows",
    "with_hard_negatives",
]

NUM_NEGATIVES = 1
"""``human_hardneg``: mined negatives per human pair (fewer where a query has fewer)."""

_CURRICULUM = ("stage1_bce", "stage2_mnr", "stage3_triplet")
_READS: dict[str, tuple[str, ...]] = {
    "human": (),
    "mixed": _CURRICULUM,
    "human+mixed": _CURRICULUM,
    "human_hardneg": _CURRICULUM,
}


@dataclass(frozen=True)
class HumanLabels:
    """Which human labels ``human`` stages read: of ``source`` only (None: every source), of
    the queries in ``splits`` (never ``evaluation``)."""

    source: str | None = None
    splits: tuple[str, ...] = ("train",)

    def __post_init__(self) -> None:
        if "evaluation" in self.splits:
            raise DissentError("human labels of the evaluation split never reach training")


def datasets_read(stages: Sequence[Stage]) -> list[str]:
    """The export datasets ``stages`` read, each once."""
    names = [n for s in stages for n in _READS.get(s.data, (s.data,))]
    return list(dict.fromkeys(names))


class RowSource:
    """Where stages get their rows: the export's datasets and the store's human labels, each
    read once.

    Args:
        engine: the store (human labels and product texts).
        config: the pipeline config (``curriculum.relevance_cutoff``, ``use_description``,
            ``splits``).
        export: the checked export, or None when only ``human`` stages will be built.
        human: which human labels ``human`` stages read (default: every source's, of the
            tier-training split).
    """

    def __init__(
        self,
        engine: Engine,
        config: RetrieverSettings,
        export: Export | None,
        human: HumanLabels = HumanLabels(),
    ) -> None:
        self.engine = engine
        self.config = config
        self.export = export
        self.human_labels = human
        self._datasets: dict[str, list[Row]] = {}
        self._human: list[Row] | None = None

    def dataset(self, name: str) -> list[Row]:
        """The ``train`` rows of the export's dataset ``name``."""
        if self.export is None:
            raise DissentError(f"stage {name} needs a curriculum export; run `dissent export`")
        if name not in self._datasets:
            self._datasets[name] = self.export.rows(name)
        return self._datasets[name]

    def human(self) -> list[Row]:
        """(query, product text) for the chosen human labels at or above the cut-off."""
        if self._human is None:
            self._human = _human_rows(self.engine, self.config, self.human_labels)
        return self._human


def _human_rows(engine: Engine, config: RetrieverSettings, chosen: HumanLabels) -> list[Row]:
    cutoff = config.curriculum.relevance_cutoff
    stmt = (
        select(Query.external_id, Query.text, HumanLabel.product_id)
        .join(Query, Query.id == HumanLabel.query_id)
        .where(HumanLabel.grade >= cutoff)
        .order_by(HumanLabel.id)
    )
    if chosen.source is not None:
        stmt = stmt.where(HumanLabel.source == chosen.source)
    splits = config.splits
    with engine.connect() as conn:
        labels = [
            (text, pid)
            for key, text, pid in conn.execute(stmt)
            if split_of(key, splits.fractions, splits.seed) in chosen.splits
        ]
    if not labels:
        return []
    description = config.curriculum.use_description
    texts = {p.id: product_text(p, description=description) for p in load_products(engine)}
    return [(text, texts[pid]) for text, pid in labels]


def mixed_rows(source: RowSource, rng: random.Random) -> list[Row]:
    """Every curriculum example as an (anchor, positive, negative) triplet (module docstring)."""
    rows = source.dataset("stage2_mnr") + source.dataset("stage3_triplet")
    pointwise = source.dataset("stage1_bce")
    negatives: dict[str, list[str]] = {}
    for query, product, label in pointwise:
        if label < 0.5:
            negatives.setdefault(query, []).append(product)
    everything = [product for _, product, _ in pointwise]
    for query, product, label in pointwise:
        if label >= 0.5 and everything:
            rows.append((query, product, rng.choice(negatives.get(query) or everything)))
    return rows


def export_negatives(source: RowSource) -> dict[str, list[str]]:
    """Per query text, the products the curriculum holds as negatives (any stage), in a
    stable order without repeats: mined candidates the cascade graded below the cut-off."""
    negatives: dict[str, dict[str, None]] = {}
    for query, product, label in source.dataset("stage1_bce"):
        if label < 0.5:
            negatives.setdefault(query, {})[product] = None
    for name in ("stage2_mnr", "stage3_triplet"):
        for anchor, _, negative in source.dataset(name):
            negatives.setdefault(anchor, {})[negative] = None
    return {query: list(products) for query, products in negatives.items()}


def with_hard_negatives(
    pairs: Sequence[Row],
    negatives: dict[str, list[str]],
    rng: random.Random,
    count: int = NUM_NEGATIVES,
    relevant: Sequence[Row] | None = None,
) -> list[Row]:
    """Each (query, positive) pair with ``count`` of its query's ``negatives`` appended.

    Negatives are drawn by ``rng`` without repeats, never a product relevant to the same
    query in ``relevant`` (default ``pairs``; pass every relevant pair when ``pairs`` is a
    sample of them). A query with fewer negatives left gives what it has, down to none (the
    row stays a pair); the batcher keeps rows of each width apart.

    Args:
        pairs: (query, positive) rows, kept in order.
        negatives: query text -> candidate negatives (:func:`export_negatives`).
        rng: the seeded generator that draws them.
        count: negatives per pair at most.
        relevant: every (query, product) known relevant.

    Returns:
        One row per pair: ``(query, positive, *negatives)``.
    """
    positives: dict[str, set[str]] = {}
    for query, product in relevant if relevant is not None else pairs:
        positives.setdefault(query, set()).add(product)
    rows: list[Row] = []
    for query, product in pairs:
        choices = [n for n in negatives.get(query, ()) if n not in positives.get(query, ())]
        rows.append((query, product, *rng.sample(choices, min(count, len(choices)))))
    return rows


def capped(rows: list[Row], limit: int | None, rng: random.Random) -> list[Row]:
    """A seeded sample of ``limit`` rows, or all of them when there are no more than that.

    Args:
        rows: the rows to sample from.
        limit: at most this many (None: no limit).
        rng: the seeded generator that samples.

    Returns:
        ``rows`` itself when within the limit, else a new list of ``limit`` rows.
    """
    return rng.sample(rows, limit) if limit is not None and len(rows) > limit else rows


def _nothing(source: str) -> DissentError:
    if source == "human":
        return DissentError(
            "stage human has no training examples: the store holds no human label at or above "
            "curriculum.relevance_cutoff in the tier-training split; ingest labels first "
            "(`dissent ingest`) or train a curriculum recipe"
        )
    return DissentError(
        f"stage {source} has no training examples: the export holds no {source} rows; build "
        "and export a curriculum with examples in that stage (`dissent curriculum build`, "
        "`dissent export`)"
    )


def stage_rows(
    stage: Stage, source: RowSource, seed: int, *, num_negatives: int = NUM_NEGATIVES
) -> list[Row]:
    """The rows ``stage`` trains on (see the module docstring), sampled with ``seed``.

    Args:
        stage: the stage (its ``data`` decides the rows).
        source: where the rows come from; ``source.config.train.max_examples_per_stage`` caps
            each source.
        seed: seeds the sample (``train.seed`` + the stage's number, in a plan).
        num_negatives: mined negatives per pair, for ``human_hardneg``.

    Returns:
        The rows, tuples in the export's column order.

    Raises:
        DissentError: the stage (or one of its sources) has no examples.
    """
    rng = random.Random(seed)
    limit = source.config.train.max_examples_per_stage
    if stage.data == "human_hardneg":  # the `human` sample, then negatives per pair
        relevant = source.human()
        pairs = capped(relevant, limit, rng)
        if not pairs:
            raise _nothing("human")
        negatives = export_negatives(source)
        return with_hard_negatives(
            pairs, negatives, random.Random(seed + 1), num_negatives, relevant
        )
    rows: list[Row] = []
    for name in stage.data.split("+"):  # "human+mixed": each source capped on its own
        found: list[Any]
        if name == "human":
            found = source.human()
        elif name == "mixed":
            found = mixed_rows(source, rng)
        else:
            found = source.dataset(name)
        found = capped(found, limit, rng)
        if not found:
            raise _nothing(name)
        rows += found
    return rows
