"""``dissent annotate`` (with ``train-tier``) and ``dissent calibrate``: the cascade."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import ConfigOption, RunOption, load, out

__all__ = ["annotate_app", "calibrate_command"]

annotate_app = typer.Typer(
    help="Grade mined candidates with the calibrated cascade (train-tier: train a cross-encoder tier).",
    invoke_without_command=True,
)


@annotate_app.callback()
def annotate_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    run: RunOption = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="only this disagreement set (repeatable)")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="grade only the first N pairs")
    ] = None,
) -> None:
    """Grade mined candidates with the calibrated cascade."""
    if ctx.invoked_subcommand is not None:
        return
    from annotator.annotating import annotate
    from core.progress import progress_display
    from store.db import open_store

    cfg = load(config)
    engine = open_store(cfg.store_url)
    with progress_display(transient=True):
        report = annotate(engine, cfg, mining_run=run, sets=sets, limit=limit)
    for line in report.lines():
        out.print(line)


def _train(config: Path | None, tier: str | None, epochs: int | None, limit: int | None) -> None:
    from annotator.training import train_tier, trainable_tier
    from store.db import open_store

    cfg = load(config)
    name = trainable_tier(cfg, tier).name
    result = train_tier(open_store(cfg.store_url), cfg, tier, epochs=epochs, limit=limit)
    dev = ", ".join(f"{q:.3f}" for q in result.dev_qwk) or "no dev slice"
    if folded := result.counts.get("dev_folded_in"):
        dev = (
            f"no dev slice: its {folded} pairs were too few to choose on "
            "(tier1_training.min_dev_pairs) and trained too"
        )
    out.print(
        f"tier {name!r} saved to {result.output_dir}: epoch {result.best_epoch} of "
        f"{result.epochs_run} kept (dev QWK per epoch: {dev}); trained on {result.counts} "
        f"in {result.seconds:.0f} s ({result.precision})"
    )


EpochsOption = Annotated[
    int | None, typer.Option(min=1, help="training epochs (default: the tier's training settings)")
]
LimitOption = Annotated[int | None, typer.Option(min=1, help="train on the first N pairs only")]


@annotate_app.command("train-tier")
def train_tier_command(
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            help="the tier to train: its position (1, 2, ...) or name; default the first "
            "cross_encoder tier",
        ),
    ] = None,
    config: ConfigOption = None,
    epochs: EpochsOption = None,
    limit: LimitOption = None,
) -> None:
    """Fine-tune a cross_encoder tier on the tier-training split of the human labels.

    The tier's `training` settings (else annotation.tier1_training) say what it starts from
    (the packaged MiniLM, the packaged Gemma 3 270M, a GGUF or a model folder) and whether it
    trains LoRA adapters or the whole model.
    """
    _train(config, tier, epochs, limit)


@annotate_app.command("train-tier1")
def train_tier1_command(
    config: ConfigOption = None, epochs: EpochsOption = None, limit: LimitOption = None
) -> None:
    """Fine-tune the first cross_encoder tier (same as `train-tier` without --tier)."""
    _train(config, None, epochs, limit)


def calibrate_command(
    config: ConfigOption = None,
    report_dir: Annotated[Path | None, typer.Option(help="where to write the report")] = None,
) -> None:
    """Calibrate every tier on human labels and write the agreement report (HTML, MD, JSON)."""
    from annotator.calibrating import calibrate
    from annotator.report import outcome_lines
    from core.progress import progress_display
    from store.db import open_store

    cfg = load(config)
    with progress_display(transient=True):
        outcome, paths = calibrate(open_store(cfg.store_url), cfg, report_dir)
    for line in outcome_lines(outcome):
        out.print(line)
    for kind, path in paths.items():
        out.print(f"report ({kind}): {path}")
