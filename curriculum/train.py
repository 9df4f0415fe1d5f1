"""``dissent train``: two-tower retrievers trained on the curriculum, and the baselines.

Each recipe starts from the same model (``train.base_model``, offline the packaged MiniLM; a
shared encoder for queries and products) and trains through its stages in order:

| recipe | stages |
|---|---|
| ``human`` | the human labels of the tier-training split (grade >= the relevance cut-off), MNR |
| ``mixed`` | every curriculum example in one shuffled stage, MNR on (query, positive, negative) |
| ``staged`` | the curriculum: stage 1 BCE → stage 2 MNR → stage 3 Triplet |
| ``human+staged`` | the human-label stage, then the curriculum |
| ``human+staged-inbatch`` | the human-label stage, then ``staged-inbatch``'s stages |
| ``human-hardneg`` | the ``human`` pairs, each with ``train.hard_negatives`` mined negatives, MNR |
| ``human-hardneg-masked`` | the same rows under ROAR's false-negative mask (δ = 0.1) |
| ``human+mixed`` | one MNR stage: the human pairs and the ``mixed`` triplets, batches interleaved |
| ``staged-inbatch`` | the curriculum with stage 3's triplets under MNR (in-batch negatives kept) |
| ``staged-masked`` | the curriculum with ROAR's false-negative mask in stage 2 (δ = 0.1) |
| ``staged+graded`` | the curriculum, then ROAR's graded odds-ratio stage on the graded list |

The curriculum comes from an export (``dissent export``: its ``train`` splits); the human
labels from the store, tier-training split only — evaluation queries never reach a recipe.
``mixed`` uses the same examples as ``staged``: stage 2 and 3 triplets, and stage 1's
positives each paired with one of its query's stage-1 negatives (a random one where the query
has none). ``human+mixed`` adds the curriculum to the human labels without an order between
them: each source keeps its own cap (``train.max_examples_per_stage``), pairs and triplets are
batched apart (an MNR batch holds one width) and the batches are shuffled together.
``staged-inbatch`` tells whether stage 3 hurts through its negatives or through its loss: the
same triplets, but under MNR, where every other product of the batch stays a negative too
(Triplet sees only its one negative, so nothing holds the rest of the catalog away).
``human-hardneg`` asks the narrowest question of the mined data: with the very same positives
as ``human`` (the same seeded sample), does a hard negative per pair — a product the channels
retrieved for that query and the cascade graded below the cut-off, taken from the export's
negatives (any stage) and never one of the query's human-relevant products — beat in-batch
negatives alone? A pair whose query has no such negative stays a pair. A negative the cascade
graded wrongly is a relevant product pushed away; ``human-hardneg-masked`` drops from each
query's denominator any candidate scoring more than δ above its positive.

Training is a plain loop around sentence-transformers' own losses (the same modules its
trainer calls): MNR batches hold no query or product twice (sentence-transformers'
``NO_DUPLICATES``), AdamW with linear warm-up and decay, bfloat16 autocast on CPUs that run it
natively, a GPU where one exists, seeded shuffles. Every stage is saved as it finishes
(``<output>/<recipe>/stage-<n>-<name>``) with a ``progress.json``: a killed run resumes at the
first unfinished stage. The final model (``<output>/<recipe>/final``) carries a model card
naming the curriculum run, the export and the stages.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from core.errors import DissentError
from core.models import cpu_has_bf16, default_model_path
from core.progress import track
from curriculum.config import Recipe, TrainConfig, TrainSettings
from curriculum.losses import (
    BiEncoderBCELoss,
    MaskedMultipleNegativesRankingLoss,
    graded_odds_ratio_loss,
)
from store.catalog import load_products, product_text
from store.schema import HumanLabel, Query
from store.splits import split_of

__all__ = ["RecipeReport", "Stage", "recipe_stages", "train_recipes", "with_hard_negatives"]

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
_STAGES: dict[str, list[tuple[str, str]]] = {  # recipe -> [(data, loss)]
    "human": [("human", "mnr")],
    "mixed": [("mixed", "mnr")],
    "staged": [("stage1_bce", "bce"), ("stage2_mnr", "mnr"), ("stage3_triplet", "triplet")],
    "human+staged": [
        ("human", "mnr"),
        ("stage1_bce", "bce"),
        ("stage2_mnr", "mnr"),
        ("stage3_triplet", "triplet"),
    ],
    "human+staged-inbatch": [
        ("human", "mnr"),
        ("stage1_bce", "bce"),
        ("stage2_mnr", "mnr"),
        ("stage3_triplet", "mnr"),
    ],
    "human+mixed": [("human+mixed", "mnr")],
    "human-hardneg": [("human_hardneg", "mnr")],
    "human-hardneg-masked": [("human_hardneg", "masked_mnr")],
    "staged-inbatch": [("stage1_bce", "bce"), ("stage2_mnr", "mnr"), ("stage3_triplet", "mnr")],
    "staged-masked": [
        ("stage1_bce", "bce"),
        ("stage2_mnr", "masked_mnr"),
        ("stage3_triplet", "triplet"),
    ],
    "staged+graded": [
        ("stage1_bce", "bce"),
        ("stage2_mnr", "mnr"),
        ("stage3_triplet", "triplet"),
        ("graded", "graded"),
    ],
}
_GRADED_COLUMNS = ("exact", "substitute", "complement", "irrelevant")  # grades 3, 2, 1, 0


@dataclass(frozen=True)
class Stage:
    """One stage of a recipe: which data, which loss."""

    data: str
    loss: str


def recipe_stages(recipe: Recipe) -> list[Stage]:
    """The stages of ``recipe``, in order (see the module docstring's table)."""
    return [Stage(d, loss) for d, loss in _STAGES[recipe]]


@dataclass
class RecipeReport:
    """What training one recipe did: where the model is, and each stage's size and time."""

    recipe: str
    model_dir: str
    stages: list[dict[str, Any]] = field(default_factory=list)
    resumed_from: int = 0
    seconds: float = 0.0


# ------------------------------------------------------------------------------------ data


def _export_rows(export: Path, name: str) -> list[Row]:
    from datasets import load_from_disk

    path = export / name
    if not path.exists():
        raise DissentError(f"no {name} dataset in {export}; run `dissent export` first")
    data = load_from_disk(str(path))["train"]
    return [tuple(row.values()) for row in data]


def _human_rows(engine: Engine, config: TrainSettings) -> list[Row]:
    """(query, product text) for the tier-training split's relevant human labels."""
    cutoff = config.curriculum.relevance_cutoff
    texts = {
        p.id: product_text(p, description=config.curriculum.use_description)
        for p in load_products(engine)
    }
    stmt = (
        select(Query.external_id, Query.text, HumanLabel.product_id)
        .join(Query, Query.id == HumanLabel.query_id)
        .where(HumanLabel.grade >= cutoff)
        .order_by(HumanLabel.id)
    )
    splits = config.splits
    with engine.connect() as conn:
        return [
            (text, texts[pid])
            for key, text, pid in conn.execute(stmt)
            if split_of(key, splits.fractions, splits.seed) == "train"
        ]


def _mixed_rows(export: Path, rng: random.Random) -> list[Row]:
    """Every curriculum example as an (anchor, positive, negative) triplet, in one stage."""
    rows = _export_rows(export, "stage2_mnr") + _export_rows(export, "stage3_triplet")
    pointwise = _export_rows(export, "stage1_bce")
    negatives: dict[str, list[str]] = {}
    for query, product, label in pointwise:
        if label < 0.5:
            negatives.setdefault(query, []).append(product)
    everything = [product for _, product, _ in pointwise]
    for query, product, label in pointwise:
        if label >= 0.5 and everything:
            rows.append((query, product, rng.choice(negatives.get(query) or everything)))
    return rows


def _export_negatives(export: Path) -> dict[str, list[str]]:
    """Per query text, the products the curriculum holds as negatives (any stage), in a
    stable order without repeats: mined candidates the cascade graded below the cut-off."""
    negatives: dict[str, dict[str, None]] = {}
    for query, product, label in _export_rows(export, "stage1_bce"):
        if label < 0.5:
            negatives.setdefault(query, {})[product] = None
    for name in ("stage2_mnr", "stage3_triplet"):
        for anchor, _, negative in _export_rows(export, name):
            negatives.setdefault(anchor, {})[negative] = None
    return {query: list(products) for query, products in negatives.items()}


def with_hard_negatives(
    pairs: Sequence[Row],
    negatives: dict[str, list[str]],
    rng: random.Random,
    count: int = 1,
    relevant: Sequence[Row] | None = None,
) -> list[Row]:
    """Each (query, positive) pair with ``count`` of its query's ``negatives`` appended, drawn
    by ``rng`` without repeats; never a product relevant to the same query in ``relevant``
    (default ``pairs``; pass every relevant pair when ``pairs`` is a sample of them). A query
    with fewer negatives left gives what it has, down to none (the row stays a pair); the
    batcher keeps rows of each width apart."""
    positives: dict[str, set[str]] = {}
    for query, product in relevant if relevant is not None else pairs:
        positives.setdefault(query, set()).add(product)
    rows: list[Row] = []
    for query, product in pairs:
        choices = [n for n in negatives.get(query, ()) if n not in positives.get(query, ())]
        rows.append((query, product, *rng.sample(choices, min(count, len(choices)))))
    return rows


def _rows(
    stage: Stage, engine: Engine, config: TrainSettings, export: Path, seed: int
) -> list[Row]:
    rng = random.Random(seed)

    def source_rows(source: str) -> list[Row]:
        if source == "human":
            return _human_rows(engine, config)
        if source == "mixed":
            return _mixed_rows(export, rng)
        return _export_rows(export, source)

    if stage.data == "human_hardneg":  # the `human` sample, then a negative per pair
        relevant = _human_rows(engine, config)
        pairs = _capped(relevant, config, rng)
        if not pairs:
            raise DissentError("stage human has no training examples")
        negatives = _export_negatives(export)
        return with_hard_negatives(
            pairs, negatives, random.Random(seed + 1), config.train.hard_negatives, relevant
        )
    rows: list[Row] = []
    for source in stage.data.split("+"):  # "human+mixed": each source capped on its own
        found = _capped(source_rows(source), config, rng)
        if not found:
            raise DissentError(f"stage {source} has no training examples")
        rows += found
    return rows


def _capped(rows: list[Row], config: TrainSettings, rng: random.Random) -> list[Row]:
    limit = config.train.max_examples_per_stage
    return rng.sample(rows, limit) if limit is not None and len(rows) > limit else rows


# --------------------------------------------------------------------------------- batches


def _unique_batches(rows: Sequence[Row], size: int, rng: random.Random) -> list[list[Row]]:
    """Shuffled batches in which no text appears twice (in-batch negatives must be negatives)."""
    pending = list(rows)
    rng.shuffle(pending)
    batches: list[list[Row]] = []
    while pending:
        batch: list[Row] = []
        seen: set[str] = set()
        deferred = []
        for row in pending:
            texts = {t for t in row if isinstance(t, str)}
            if len(batch) < size and not texts & seen:
                batch.append(row)
                seen |= texts
            else:
                deferred.append(row)
        batches.append(batch)
        pending = deferred
    return batches


def _plain_batches(rows: Sequence[Row], size: int, rng: random.Random) -> list[list[Row]]:
    order = list(rows)
    rng.shuffle(order)
    return [order[i : i + size] for i in range(0, len(order), size)]


def _batches_by_width(
    rows: Sequence[Row], size: int, rng: random.Random, batcher: Callable[..., list[list[Row]]]
) -> list[list[Row]]:
    """Batches of rows of one width each (pairs apart from triplets), shuffled together."""
    widths: dict[int, list[Row]] = {}
    for row in rows:
        widths.setdefault(len(row), []).append(row)
    if len(widths) == 1:
        return batcher(rows, size, rng)
    batches = [b for width in sorted(widths) for b in batcher(widths[width], size, rng)]
    rng.shuffle(batches)
    return batches


# ---------------------------------------------------------------------------------- losses


def _loss(kind: str, model: Any, config: TrainConfig) -> Callable[[Any, list[Row]], Any]:
    """A function (model, batch) -> loss tensor for the stage's loss.

    Triplet runs on cosine distance with ``config.triplet_margin``: sentence-transformers'
    default (Euclidean distance, margin 5) never stops pushing on unit-length embeddings,
    whose distances are at most 2, so every triplet keeps pulling the space apart.
    """
    import torch
    from sentence_transformers.sentence_transformer import losses

    if kind == "graded":
        return _graded_step
    module = {
        "bce": lambda: BiEncoderBCELoss(model),
        "mnr": lambda: losses.MultipleNegativesRankingLoss(model),
        "masked_mnr": lambda: MaskedMultipleNegativesRankingLoss(model, margin=0.1),
        "triplet": lambda: losses.TripletLoss(
            model,
            distance_metric=losses.TripletDistanceMetric.COSINE,
            triplet_margin=config.triplet_margin,
        ),
    }[kind]()
    text_columns = 2 if kind == "bce" else None

    def step(model: Any, batch: list[Row]) -> Any:
        width = text_columns or len(batch[0])
        features = [_to(model, model.tokenize([row[i] for row in batch])) for i in range(width)]
        labels = (
            torch.tensor([float(row[2]) for row in batch])
            if kind == "bce"
            else torch.zeros(len(batch), dtype=torch.long)
        )
        return module(features, labels.to(model.device))

    return step


def _to(model: Any, features: dict[str, Any]) -> dict[str, Any]:
    return {k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()}


def _graded_step(model: Any, batch: list[Row]) -> Any:
    """ROAR stage 2 on graded lists: InfoNCE toward each query's best product, plus 0.1 × the
    graded odds-ratio term (:func:`curriculum.losses.graded_odds_ratio_loss`). One product
    per grade a query has, the first of each list (lists are in a seeded order)."""
    import torch

    queries = [row[0] for row in batch]
    products: list[str] = []
    owner: list[tuple[int, int]] = []  # (query index, grade) per product
    for q, row in enumerate(batch):
        for grade, items in zip((3, 2, 1, 0), row[1:5], strict=True):
            if items:
                products.append(items[0])
                owner.append((q, grade))
    q_emb = model(_to(model, model.tokenize(queries)))["sentence_embedding"]
    p_emb = model(_to(model, model.tokenize(products)))["sentence_embedding"]
    sims = (
        torch.nn.functional.normalize(q_emb, dim=-1)
        @ torch.nn.functional.normalize(p_emb, dim=-1).T
    )
    grades = torch.full(sims.shape, -1, dtype=torch.long)
    for column, (q, grade) in enumerate(owner):
        grades[q, column] = grade
    best = [
        max(((g, c) for c, (o, g) in enumerate(owner) if o == q), default=(-1, -1))
        for q in range(len(batch))
    ]
    keep = [q for q, (g, _) in enumerate(best) if g >= 2]
    contrastive = sims.sum() * 0.0
    if keep:
        logits = 20.0 * sims[keep]
        targets = torch.tensor([best[q][1] for q in keep])
        contrastive = torch.nn.functional.cross_entropy(logits, targets.to(logits.device))
    return contrastive + 0.1 * graded_odds_ratio_loss(sims, grades.to(sims.device))


# -------------------------------------------------------------------------------- training


def _load(path: str, config: TrainConfig) -> Any:
    import torch
    from sentence_transformers import SentenceTransformer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(path, device=device, local_files_only=True)
    model.max_seq_length = config.max_length
    return model


def _bf16(config: TrainConfig, model: Any) -> bool:
    if str(model.device).startswith("cuda"):
        return config.precision != "float32"
    return config.precision == "bfloat16" or (config.precision == "auto" and cpu_has_bf16())


def _train_stage(
    model: Any, rows: list[Row], stage: Stage, config: TrainConfig, label: str
) -> float:
    """One stage: ``config.epochs`` passes over ``rows``; returns the mean loss."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    rng = random.Random(config.seed)
    unique = stage.loss in ("mnr", "masked_mnr", "graded")
    batcher = _unique_batches if unique and stage.loss != "graded" else _plain_batches
    steps = config.epochs * math.ceil(len(rows) / config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, max(1, steps // 10), max(1, steps))
    step = _loss(stage.loss, model, config)
    device = "cuda" if str(model.device).startswith("cuda") else "cpu"
    model.train()
    total, count = 0.0, 0
    for epoch in range(config.epochs):
        batches = _batches_by_width(rows, config.batch_size, rng, batcher)
        for batch in track(batches, f"{label} epoch {epoch + 1}", total=len(batches)):
            with torch.autocast(device, dtype=torch.bfloat16, enabled=_bf16(config, model)):
                loss = step(model, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            total, count = total + float(loss.detach()), count + 1
    return total / max(1, count)


def _progress(directory: Path) -> dict[str, Any]:
    path = directory / "progress.json"
    return json.loads(path.read_text()) if path.exists() else {"done": []}


def _card(report: RecipeReport, lineage: dict[str, Any], config: TrainConfig) -> str:
    rows = "\n".join(
        f"| {i} | {s['data']} | {s['loss']} | {s['examples']:,} | {s['seconds']:.0f} |"
        for i, s in enumerate(report.stages, start=1)
    )
    return (
        f"# Dissent retriever: recipe `{report.recipe}`\n\n"
        f"Two-tower (shared encoder) model trained by `dissent train` from "
        f"`{config.base_model or 'packaged all-MiniLM-L6-v2'}`, seed {config.seed}, "
        f"{config.epochs} epoch(s) per stage, batch {config.batch_size}, learning rate "
        f"{config.learning_rate}.\n\n"
        f"- Curriculum run: {lineage.get('curriculum_run')}\n"
        f"- Export: `{lineage.get('export')}`\n"
        f"- Human labels: tier-training split only; evaluation queries never seen\n"
        + (
            f"- Mined negatives per human pair: up to {config.hard_negatives}\n"
            if any(s["data"] == "human_hardneg" for s in report.stages)
            else ""
        )
        + "\n"
        "| stage | data | loss | examples | seconds |\n|---|---|---|---:|---:|\n"
        f"{rows}\n"
    )


def _train_recipe(
    engine: Engine,
    config: TrainSettings,
    recipe: Recipe,
    export: Path,
    output: Path,
    lineage: dict[str, Any],
) -> RecipeReport:
    started = time.perf_counter()
    settings = config.train
    directory = output / recipe
    directory.mkdir(parents=True, exist_ok=True)
    progress = _progress(directory)
    report = RecipeReport(recipe, str(directory / "final"), stages=list(progress["done"]))
    report.resumed_from = len(progress["done"])
    start = progress["done"][-1]["path"] if progress["done"] else None
    model = _load(start or settings.base_model or default_model_path(), settings)
    stages = recipe_stages(recipe)
    for number, stage in enumerate(stages, start=1):
        if number <= report.resumed_from:
            continue
        t0 = time.perf_counter()
        rows = _rows(stage, engine, config, export, settings.seed + number)
        loss = _train_stage(model, rows, stage, settings, f"{recipe} {stage.data}")
        path = directory / f"stage-{number}-{stage.data}"
        model.save(str(path))
        done = {
            "data": stage.data,
            "loss": stage.loss,
            "examples": len(rows),
            "mean_loss": loss,
            "seconds": time.perf_counter() - t0,
            "path": str(path),
        }
        report.stages.append(done)
        (directory / "progress.json").write_text(json.dumps({"done": report.stages}, indent=2))
    final = directory / "final"
    if final.exists():
        shutil.rmtree(final)
    model.save(str(final))
    report.seconds = time.perf_counter() - started
    (final / "README.md").write_text(_card(report, lineage, settings))
    (final / "dissent-train.json").write_text(json.dumps({**asdict(report), **lineage}, indent=2))
    return report


def train_recipes(
    engine: Engine,
    config: TrainSettings,
    *,
    recipes: Sequence[Recipe] | None = None,
    export_dir: Path | None = None,
    curriculum_run: int | None = None,
) -> list[RecipeReport]:
    """Train each recipe (default: ``train.recipes``) and save the models under
    ``train.output_dir`` (default ``workdir/models``); see the module docstring.

    Raises:
        DissentError: the export lacks a dataset a recipe needs, or a stage has no examples.
    """
    export = Path(export_dir or config.export.output_dir or config.workdir / "export")
    output = Path(config.train.output_dir or config.workdir / "models")
    manifest = export / "manifest.json"
    run = json.loads(manifest.read_text()).get("curriculum_run") if manifest.exists() else None
    lineage = {"curriculum_run": curriculum_run or run, "export": str(export)}
    return [
        _train_recipe(engine, config, recipe, export, output, lineage)
        for recipe in (recipes or config.train.recipes)
    ]
