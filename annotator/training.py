"""Training a tier: what ``dissent annotate train-tier`` runs, recorded as a ``train-tier1`` run.

:func:`trainable_tier` finds the tier to train (by position or name; trainable backends only,
:attr:`~annotator.backends.base.Capabilities.trainable`), :func:`train_tier` takes the
tier-training split of the human labels, builds the training set
(:mod:`annotator.training_data`), trains (:mod:`annotator.trainer`) and saves the model to the
tier's folder. :func:`untrained_tiers` names the trainable tiers with no model on disk yet
(``dissent calibrate`` trains them first).
"""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import Engine

from annotator.backends.registry import backend_class, trained_model_dir
from annotator.combiner import CombinerSettings
from annotator.config import AnnotatorSettings, TierConfig
from annotator.fitting import cap_split
from annotator.pairs import labelled_pairs
from annotator.trainer import TrainingResult, train_tier1_model, training_record
from annotator.training_data import NO_TRAINING_PAIRS, training_set
from core.errors import DissentError
from store.ledger import Flow, recorded_run

__all__ = ["train_tier", "train_tier1", "trainable_tier", "untrained_tiers"]


def trainable_tier(config: AnnotatorSettings, tier: str | int | None = None) -> TierConfig:
    """The trainable tier that ``tier`` names: a 1-based position or a name; unset, the first
    trainable tier.

    Raises:
        DissentError: no such tier, or one that Dissent does not train.
    """
    tiers = config.annotation.tiers
    names = ", ".join(f"{i} {t.name!r} ({t.backend})" for i, t in enumerate(tiers, start=1))
    if tier is None:
        found = next((t for t in tiers if backend_class(t).trainable), None)
        if found is None:
            raise DissentError(f"no cross_encoder tier to train; the tiers are {names}")
        return found
    position = int(tier) if isinstance(tier, int) or str(tier).isdigit() else None
    if position is not None:
        if not 1 <= position <= len(tiers):
            raise DissentError(f"there is no tier {position}; the tiers are {names}")
        chosen = tiers[position - 1]
    else:
        match = [t for t in tiers if t.name == tier]
        if not match:
            raise DissentError(f"there is no tier named {tier!r}; the tiers are {names}")
        chosen = match[0]
    if not backend_class(chosen).trainable:
        raise DissentError(
            f"tier {chosen.name!r} is a {chosen.backend} tier: only cross_encoder tiers are "
            f"trained by Dissent (the tiers are {names})"
        )
    return chosen


def untrained_tiers(config: AnnotatorSettings) -> list[str]:
    """The trainable tiers configured without a trained model on disk, by name."""
    missing = []
    for tier in config.annotation.tiers:
        if backend_class(tier).trainable:
            path = trained_model_dir(tier, config.workdir)
            # the weights are written last: a model killed while saving counts as missing
            if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
                missing.append(tier.name)
    return missing


def train_tier(
    engine: Engine,
    config: AnnotatorSettings,
    tier: str | int | None = None,
    *,
    epochs: int | None = None,
    limit: int | None = None,
    consistency_weight: float = 0.0,
    combiner: CombinerSettings = CombinerSettings(),
) -> TrainingResult:
    """Fine-tune a trainable tier on the tier-training split and record a ``train-tier1`` run.

    Settings come from the tier's ``training``, else ``annotation.tier1_training``; the model
    is saved to the tier's ``model`` folder (default ``<workdir>/models/tier1-cross-encoder``).

    Args:
        engine: the store.
        config: the pipeline config (tiers, splits, precision).
        tier: a 1-based position or a name (unset: the first trainable tier).
        epochs: overrides the settings' epochs.
        limit: keep the first ``limit`` tier-training pairs (then ``max_pairs`` caps them,
            whole queries in a seeded order).
        consistency_weight: the trainer's consistency term (0: off; for benchmarks).
        combiner: how the combiner is fitted (default: :mod:`annotator.combiner`'s constants).

    Raises:
        DissentError: no such tier, or no tier-training pairs (refused before any run row).
    """
    chosen = trainable_tier(config, tier)
    output = trained_model_dir(chosen, config.workdir)
    settings = chosen.training or config.annotation.tier1_training
    if epochs is not None:
        settings = settings.model_copy(update={"epochs": epochs})
    ann = config.annotation
    train = [
        lp for lp in labelled_pairs(engine, config.splits, ann.label_source) if lp.split == "train"
    ][:limit]
    train = cap_split(train, settings.max_pairs, settings.seed)
    if not train:  # refused before any run row is written
        raise DissentError(NO_TRAINING_PAIRS)
    record = training_record(
        settings,
        precision=config.precision,
        consistency_weight=consistency_weight,
        combiner=combiner,
    )
    params = {"tier": chosen.name, "pairs": len(train), "training": record}
    with recorded_run(engine, Flow.TRAIN_TIER1, {**params, "output": str(output)}) as run:
        data = training_set(engine, train, settings)
        result = train_tier1_model(
            data,
            output,
            settings,
            precision=config.precision,
            workdir=config.workdir,
            consistency_weight=consistency_weight,
            combiner=combiner,
        )
        run.counts = asdict(result)
    return result


def train_tier1(
    engine: Engine,
    config: AnnotatorSettings,
    *,
    epochs: int | None = None,
    limit: int | None = None,
) -> TrainingResult:
    """:func:`train_tier` for the first trainable tier."""
    return train_tier(engine, config, None, epochs=epochs, limit=limit)
