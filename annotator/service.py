"""The annotator's entry points: train tier 1, calibrate the cascade, annotate candidates.

These are what ``dissent annotate train-tier1``, ``dissent calibrate`` and ``dissent annotate``
(and the Prefect flows) call; each records itself in the ``runs`` ledger.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from annotator.backends.registry import build_backend, tier1_model_dir
from annotator.calibration import Isotonic
from annotator.cascade import CascadeReport, Tier, run_cascade
from annotator.evaluate import CalibrationOutcome, TierSpec, calibrate_cascade
from annotator.pairs import candidate_pairs, labelled_pairs
from annotator.report import write_report
from prompts import load_prompt
from store.config import PipelineConfig
from store.errors import DissentError
from store.ledger import recorded_run
from store.schema import Calibration, Run

__all__ = ["annotate", "calibrate", "open_tiers", "train_tier1"]

log = logging.getLogger(__name__)


@contextmanager
def open_tiers(config: PipelineConfig) -> Iterator[list[TierSpec]]:
    """Build every tier's backend from the config; close them all afterwards."""
    specs: list[TierSpec] = []
    try:
        for tier in config.annotation.tiers:
            specs.append(
                TierSpec(
                    tier.name,
                    build_backend(tier, config.workdir),
                    tier.cost_weight,
                    tier.max_retries + 1,
                )
            )
        yield specs
    finally:
        for spec in specs:
            spec.backend.close()


def train_tier1(
    engine: Engine, config: PipelineConfig, *, epochs: int = 1, limit: int | None = None
) -> Path:
    """Fine-tune the cross-encoder tier on the tier-training split of the human labels."""
    from annotator.backends.cross_encoder import train_cross_encoder

    ann = config.annotation
    tier = next((t for t in ann.tiers if t.backend == "cross_encoder"), None)
    output = (
        Path(tier.model) if tier is not None and tier.model else tier1_model_dir(config.workdir)
    )
    train = [
        lp
        for lp in labelled_pairs(engine, ann.split_fractions, ann.split_seed, ann.label_source)
        if lp.split == "train"
    ]
    if limit is not None:
        train = train[:limit]
    with recorded_run(
        engine, "train-tier1", {"pairs": len(train), "epochs": epochs, "output": str(output)}
    ) as run:
        train_cross_encoder(
            [(lp.pair.query, lp.pair.product, lp.grade) for lp in train], output, epochs=epochs
        )
        run["counts"] = {"pairs": len(train)}
    return output


def calibrate(
    engine: Engine, config: PipelineConfig, report_dir: Path | None = None
) -> tuple[CalibrationOutcome, dict[str, Path]]:
    """Calibrate every tier, choose thresholds, evaluate on the test split, write the report.

    Raises:
        DissentError: after writing the report, when the cascade's QWK on the test split is
            below ``annotation.min_qwk``.
    """
    ann = config.annotation
    prompt = load_prompt()
    labelled = labelled_pairs(engine, ann.split_fractions, ann.split_seed, ann.label_source)
    directory = report_dir or config.workdir / "reports" / "calibration"
    with (
        recorded_run(
            engine, "calibrate", {"budget": ann.cost_budget, "min_qwk": ann.min_qwk}
        ) as run,
        open_tiers(config) as tiers,
    ):
        outcome = calibrate_cascade(
            engine,
            tiers,
            prompt,
            labelled,
            budget=ann.cost_budget,
            min_qwk=ann.min_qwk,
            max_pairs_per_split=ann.max_pairs_per_split,
            injection_pairs=ann.injection_pairs,
            seed=ann.split_seed,
            run_id=run["run_id"],
        )
        paths = write_report(outcome, directory)
        run["counts"] = {
            "report": str(paths["html"]),
            "cascade_test": outcome.cascade["test"],
            "gate": outcome.gate,
        }
        if not outcome.gate["passed"]:
            raise DissentError(
                f"agreement gate failed: cascade QWK {outcome.gate['qwk']} on the test split is below "
                f"min_qwk {ann.min_qwk} (report: {paths['html']})"
            )
    return outcome, paths


def _latest_calibrations(
    engine: Engine, specs: Sequence[TierSpec], prompt_hash: str
) -> list[Calibration | None]:
    found: list[Calibration | None] = []
    with Session(engine) as session:
        for index, spec in enumerate(specs):
            row = session.scalars(
                select(Calibration)
                .where(
                    Calibration.tier == index + 1,
                    Calibration.model_id == spec.backend.model_id,
                    Calibration.prompt_hash == prompt_hash,
                )
                .order_by(Calibration.id.desc())
                .limit(1)
            ).first()
            found.append(row)
    return found


def _accept(calibration: Calibration | None) -> float:
    value = calibration.thresholds.get("accept") if calibration is not None else None
    return 1.01 if value is None else float(value)  # the last tier has none: it always decides


def annotate(
    engine: Engine,
    config: PipelineConfig,
    *,
    mining_run: int | None = None,
    sets: Sequence[str] | None = None,
    limit: int | None = None,
) -> CascadeReport:
    """Grade the candidates of a mining run (default: the latest) with the calibrated cascade.

    Raises:
        DissentError: no mining run, or a tier without a calibration for its model and the
            current prompt (run ``dissent calibrate`` first).
    """
    prompt = load_prompt()
    with Session(engine) as session:
        stmt = (
            select(Run.id)
            .where(Run.flow == "mine", Run.status == "succeeded")
            .order_by(Run.id.desc())
        )
        run_id = mining_run or session.scalars(stmt.limit(1)).first()
    if run_id is None:
        raise DissentError("no finished mining run in the store; run `dissent mine` first")
    pairs = [pair for pair, _ in candidate_pairs(engine, run_id, sets)]
    if limit is not None:
        pairs = pairs[:limit]
    params = {"mining_run": run_id, "sets": list(sets) if sets else None, "limit": limit}
    with recorded_run(engine, "annotate", params) as run, open_tiers(config) as specs:
        calibrations = _latest_calibrations(engine, specs, prompt.version)
        missing = [s.name for s, c in zip(specs, calibrations, strict=True) if c is None]
        if missing:
            raise DissentError(
                f"no calibration for tier(s) {', '.join(missing)} with the current models and prompt; "
                "run `dissent calibrate` first"
            )
        tiers = [
            Tier(
                spec.name,
                spec.backend,
                Isotonic.from_json(c.isotonic) if c is not None and c.isotonic else None,
                threshold=_accept(c),
                max_attempts=spec.max_attempts,
            )
            for spec, c in zip(specs, calibrations, strict=True)
        ]
        report = run_cascade(
            engine,
            tiers,
            prompt,
            pairs,
            batch_size=config.annotation.batch_size,
            run_id=run["run_id"],
        )
        run["counts"] = {
            "pairs": report.pairs,
            "decided_by": report.decided_by,
            "failed": report.failed,
            "cascade_id": report.cascade_id,
        }
    return report
