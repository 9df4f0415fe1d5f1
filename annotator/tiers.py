"""The configured tiers: their backends built, and the calibrated cascade loaded from the store.

:func:`open_tiers` builds every tier's backend (:mod:`annotator.backends.registry`) and closes
them afterwards; :func:`load_cascade` turns them into the cascade the latest successful
``dissent calibrate`` chose for them and the current prompt (maps, deciders, thresholds;
bypassed tiers left out).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from annotator.backends.base import Backend
from annotator.backends.registry import build_backend
from annotator.calibration import Isotonic
from annotator.cascade import Tier, TierSpec
from annotator.config import AnnotatorSettings, TierConfig
from annotator.decision import Decider
from core.errors import DissentError
from prompts import load_prompt
from store.ledger import Flow, succeeded_ids
from store.schema import Calibration

__all__ = ["BackendWrapper", "load_cascade", "open_tiers"]

BackendWrapper = Callable[[TierConfig, Backend], Backend]
"""Wraps a tier's freshly built backend (for example to bound its calls)."""


@contextmanager
def open_tiers(
    config: AnnotatorSettings, wrap_backend: BackendWrapper | None = None
) -> Iterator[list[TierSpec]]:
    """Build every tier's backend from the config (wrapped by ``wrap_backend``); close them all
    afterwards."""
    specs: list[TierSpec] = []
    try:
        for tier in config.annotation.tiers:
            backend = build_backend(tier, config.workdir, config.precision)
            specs.append(
                TierSpec(
                    tier.name,
                    wrap_backend(tier, backend) if wrap_backend else backend,
                    tier.cost_weight,
                    tier.max_retries + 1,
                    tier.max_eval_pairs,
                )
            )
        yield specs
    finally:
        for spec in specs:
            spec.backend.close()


def _latest_calibrations(
    engine: Engine, specs: Sequence[TierSpec], prompt_hash: str
) -> tuple[int | None, list[Calibration | None]]:
    """The calibrations of every tier from the latest *succeeded* calibrate run that has them.

    Thresholds are chosen for the tiers together, so all come from one run; a run that failed
    its agreement gate is never used.
    """
    with Session(engine) as session:
        found: list[Calibration | None] = [None] * len(specs)
        for run_id in succeeded_ids(engine, Flow.CALIBRATE):
            rows = session.scalars(
                select(Calibration).where(
                    Calibration.run_id == run_id, Calibration.prompt_hash == prompt_hash
                )
            ).all()
            by_tier = {(r.tier, r.model_id): r for r in rows}
            tiers = [by_tier.get((i + 1, s.backend.model_id)) for i, s in enumerate(specs)]
            if all(t is not None for t in tiers):
                return run_id, tiers
            if not any(found):
                found = tiers
    return None, found


def load_cascade(engine: Engine, specs: Sequence[TierSpec]) -> list[Tier]:
    """The cascade for ``specs``: the active tiers of the latest calibration for the prompt,
    each with its maps, decider and threshold (bypassed tiers are left out).

    Raises:
        DissentError: a tier has no calibration for its model and the current prompt.
    """
    prompt = load_prompt()
    calibration_run, calibrations = _latest_calibrations(engine, specs, prompt.version)
    missing = [s.name for s, c in zip(specs, calibrations, strict=True) if c is None]
    if missing:
        raise DissentError(
            f"no calibration for tier(s) {', '.join(missing)} with the current models and prompt "
            "from a calibrate run that passed its agreement gate; run `dissent calibrate` first"
        )
    return [
        _tier(position, spec, c, calibration_run)
        for position, (spec, c) in enumerate(zip(specs, calibrations, strict=True), start=1)
        if c is not None and not c.thresholds.get("bypassed")
    ]


def _tier(
    position: int, spec: TierSpec, calibration: Calibration, calibration_run: int | None
) -> Tier:
    """An active tier as its calibration row describes it."""
    accept = calibration.thresholds.get("accept")
    decider = calibration.thresholds.get("decider")
    return Tier(
        spec.name,
        spec.backend,
        Isotonic.from_json(calibration.isotonic) if calibration.isotonic else None,
        threshold=1.01 if accept is None else float(accept),  # the last tier: always decides
        max_attempts=spec.max_attempts,
        calibration_run=calibration_run,
        decider=Decider.from_json(decider) if decider else Decider("exact"),
        position=position,
    )
