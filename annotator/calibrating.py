"""Calibrating: what ``dissent calibrate`` runs, recorded as a ``calibrate`` run.

:func:`calibrate` reads the human labels of the calibration and test splits (every source,
the labelling page's included, unless ``annotation.label_source`` names one) and counts them
per source, reads the previous succeeded calibration to compare with (:mod:`annotator.rounds`),
adds random catalog products labelled Irrelevant to the calibration split
(``calibration_random_share``), builds the tiers, calibrates the cascade
(:func:`annotator.cascade_calibration.calibrate_cascade`: maps, route, test-split agreement,
sanity and injection figures, ``calibrations`` rows), writes the agreement report
(:mod:`annotator.report`), records the figures and label counts in the run's counts, and
enforces the agreement gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import Engine

from annotator.cascade_calibration import calibrate_cascade
from annotator.config import AnnotatorSettings
from annotator.outcome import CalibrationOutcome
from annotator.pairs import LabelledPair, labelled_pairs, random_pairs, require_splits
from annotator.report import write_report
from annotator.rounds import label_counts, labels_fingerprint, previous_round
from annotator.tiers import open_tiers
from core.errors import DissentError
from core.paths import Workdir
from prompts import load_prompt
from store.ledger import Flow, recorded_run

__all__ = ["calibrate"]


def calibrate(
    engine: Engine,
    config: AnnotatorSettings,
    report_dir: Path | None = None,
    *,
    enforce_gate: bool = True,
) -> tuple[CalibrationOutcome, dict[str, Path]]:
    """Calibrate every tier, choose thresholds, evaluate on the test split, write the report.

    Args:
        engine: the store.
        config: the pipeline config (tiers, splits, the ``annotation`` section's gate).
        report_dir: where the report goes (default ``<workdir>/reports/calibration``).
        enforce_gate: off (benchmarks), a failed gate is only reported.

    Returns:
        The outcome and the report's paths by kind (``html``, ``markdown``, ``json``).

    Raises:
        DissentError: no human labels in the calibration or test split, or a tier that cannot
            be built (both refused before the run is recorded); after writing the report, a
            failed agreement gate: the cascade's QWK on the test split is below
            ``annotation.min_qwk``, or it grades more than ``annotation.max_random_relevant``
            of random products relevant.
    """
    ann = config.annotation
    prompt = load_prompt()
    labelled = labelled_pairs(engine, config.splits, ann.label_source)
    require_splits(labelled)  # refusals come before the tiers load and the run row is written
    labels, fingerprint = label_counts(labelled), labels_fingerprint(labelled)
    previous = previous_round(engine)
    labelled += _unrelated(engine, labelled, ann.calibration_random_share, config.splits.seed)
    test_queries = sorted({lp.pair.query_id for lp in labelled if lp.split == "test"})
    randoms = random_pairs(engine, test_queries, ann.random_pairs, config.splits.seed)
    directory = report_dir or Workdir(config.workdir).calibration_reports
    with (
        open_tiers(config) as tiers,  # a missing model is refused before the run row
        recorded_run(
            engine,
            Flow.CALIBRATE,
            {"budget": ann.cost_budget, "min_qwk": ann.min_qwk},
            {"prompt": prompt.version},
        ) as run,
    ):
        outcome = calibrate_cascade(
            engine,
            tiers,
            prompt,
            labelled,
            objective=ann.objective,
            budget=ann.cost_budget,
            folds=ann.cv_folds,
            min_qwk=ann.min_qwk,
            max_random_relevant=ann.max_random_relevant,
            injection_pairs=ann.injection_pairs,
            random_pairs=randoms,
            seed=config.splits.seed,
            run_id=run.id,
        )
        outcome.labels, outcome.test_labels, outcome.previous = labels, fingerprint, previous
        paths = write_report(outcome, directory)
        run.counts = {
            "report": str(paths["html"]),
            "cascade_test": asdict(outcome.cascade.test),
            "gate": asdict(outcome.gate),
            "labels": labels,  # split -> source -> human labels: the next run compares
            "test_labels": fingerprint,
        }
        if enforce_gate and not outcome.gate.passed:
            gate = outcome.gate
            raise DissentError(
                f"agreement gate failed: cascade QWK {gate.qwk} on the test split (minimum "
                f"{gate.min_qwk}), random products graded relevant {gate.random_relevant} "
                f"(maximum {gate.max_random_relevant}); report: {paths['html']}"
            )
    return outcome, paths


def _unrelated(
    engine: Engine, labelled: Sequence[LabelledPair], share: float, seed: int
) -> list[LabelledPair]:
    """Random catalog products for the calibration queries, labelled Irrelevant.

    Human labels are mostly of plausible products; the candidates the cascade grades include
    random and token-similar negatives. Without unrelated products among them, the maps and
    cutpoints fitted on the calibration split learn that everything is somewhat relevant.
    """
    cal = [lp for lp in labelled if lp.split == "calibration"]
    queries = sorted({lp.pair.query_id for lp in cal})
    pairs = random_pairs(engine, queries, round(share * len(cal)), seed + 1)
    return [LabelledPair(pair, 0, "calibration") for pair in pairs]
