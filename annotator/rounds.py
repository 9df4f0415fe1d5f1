"""Where a calibration's human labels came from, and how agreement moved since the last one.

Human labels come from more than one place: a dataset ingested with ``dissent ingest`` (source
``homedepot``, say) and the labelling page (``dissent review``, source ``review``).
:func:`label_counts` counts the labels of the calibration and test splits per source;
``dissent calibrate`` records them in its ledger row's counts beside :func:`labels_fingerprint`
(a hash of the test labels), so that the next calibration reads them back
(:func:`previous_round`) and its report sets the two rounds side by side
(:func:`label_line`, :func:`round_lines`): the cascade's test QWK and exact agreement before
and after, and how the labels changed in between.

That is a before/after, not a controlled comparison: when the test labels changed, the cascade
and its yardstick both moved, and the report says so; only when the fingerprints match were
both rounds measured on the same labels.

Example:
    >>> from annotator.backends.base import Pair
    >>> pair = Pair(1, 2, "h2", "drill", {})
    >>> label_counts([
    ...     LabelledPair(pair, 3, "test", "homedepot"),
    ...     LabelledPair(pair, 2, "test", "review"),
    ...     LabelledPair(pair, 0, "calibration"),  # a random product: no person's label
    ... ])
    {'calibration': {}, 'test': {'homedepot': 1, 'review': 1}}
    >>> _changes({"homedepot": 80}, {"homedepot": 80, "review": 17})
    '+17 review'
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from annotator.outcome import CalibrationOutcome, PreviousRound
from annotator.pairs import LabelledPair
from core.hashing import content_hash
from store.ledger import Flow, latest_run

__all__ = ["label_counts", "label_line", "labels_fingerprint", "previous_round", "round_lines"]

COUNTED = ("calibration", "test")


def label_counts(labelled: Sequence[LabelledPair]) -> dict[str, dict[str, int]]:
    """The human labels of the calibration and test splits, per split and source (sources in
    name order); pairs no person graded (``source`` "") are not counted."""
    counts: dict[str, dict[str, int]] = {split: {} for split in COUNTED}
    for lp in labelled:
        if lp.source and lp.split in counts:
            by_source = counts[lp.split]
            by_source[lp.source] = by_source.get(lp.source, 0) + 1
    return {split: dict(sorted(by.items())) for split, by in counts.items()}


def labels_fingerprint(labelled: Sequence[LabelledPair]) -> str:
    """A hash of the test split's human labels (pair, source, grade): equal only when two
    calibrations were tested on the same labels."""
    rows = sorted(
        (lp.pair.query_id, lp.pair.product_id, lp.source, lp.grade)
        for lp in labelled
        if lp.split == "test" and lp.source
    )
    return content_hash(rows)


def previous_round(engine: Engine) -> PreviousRound | None:
    """The newest succeeded ``calibrate`` run as its ledger row recorded it, or None.

    Call it before recording a new run. A run recorded before label counts were kept reads
    back with ``labels`` and ``test_labels`` None; a run that failed its agreement gate is not
    a round (its row keeps no figures).
    """
    run = latest_run(engine, Flow.CALIBRATE)
    if run is None:
        return None
    counts = run.counts or {}
    test = counts.get("cascade_test") or {}
    return PreviousRound(
        run.id,
        test.get("qwk"),
        test.get("exact"),
        int(test.get("n") or 0),
        counts.get("labels"),
        counts.get("test_labels"),
    )


def _labels(by_source: dict[str, int]) -> str:
    """``15,096 labels (homedepot 14,800; review 296)``."""
    inner = "; ".join(f"{source} {n:,}" for source, n in by_source.items())
    return f"{sum(by_source.values()):,} labels" + (f" ({inner})" if inner else "")


def label_line(outcome: CalibrationOutcome) -> str | None:
    """Where the human labels of the calibration and test splits came from (None: not
    counted), and the random products taken as Irrelevant beside them."""
    if not outcome.labels:
        return None
    parts = [f"{split}: {_labels(by)}" for split, by in outcome.labels.items()]
    line = "Human labels by source: " + ", ".join(parts)
    human = sum(outcome.labels.get("calibration", {}).values())
    randoms = outcome.splits.get("calibration", {}).get("pairs", human) - human
    if randoms > 0:
        line += (
            f"; the calibration split adds {randoms:,} random catalog products taken as Irrelevant"
        )
    return line + "."


def _changes(before: dict[str, int], now: dict[str, int]) -> str:
    """What changed per source: ``+17 review``, ``-3 homedepot`` ("" when nothing did)."""
    sources = sorted(set(before) | set(now))
    deltas = [(s, now.get(s, 0) - before.get(s, 0)) for s in sources]
    return ", ".join(f"{d:+,} {s}" for s, d in deltas if d)


def _change(now: float | None, before: float | None, pct: bool) -> str:
    if now is None or before is None:
        return ""
    return f", {100 * (now - before):+.1f} points" if pct else f", {now - before:+.3f}"


def _figure(value: float | None, pct: bool) -> str:
    if value is None:
        return "–"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def _split_counts(split: str, outcome: CalibrationOutcome, previous: PreviousRound) -> str:
    """``97 test labels (run 7: 80; +17 review)``."""
    now = outcome.labels.get(split, {})
    text = f"{sum(now.values()):,} {split} labels"
    if previous.labels is None:
        return text + f" (run {previous.run_id}: not recorded)"
    before = previous.labels.get(split, {})
    changes = _changes(before, now)
    return (
        text
        + f" (run {previous.run_id}: {sum(before.values()):,}"
        + (f"; {changes})" if changes else ")")
    )


def round_lines(outcome: CalibrationOutcome) -> list[str]:
    """The cascade's test agreement beside the previous calibration's, with the label counts
    each was measured on, and whether the test labels were the same."""
    previous = outcome.previous
    if previous is None:
        return ["Before and after: no earlier succeeded calibration to compare with."]
    test, run = outcome.cascade.test, f"run {previous.run_id}"
    figures = (
        f"Before and after (against {run}, the previous succeeded calibration): cascade test "
        f"QWK {_figure(test.qwk, False)} ({run}: {_figure(previous.qwk, False)}"
        f"{_change(test.qwk, previous.qwk, False)}), exact {_figure(test.exact, True)} "
        f"({run}: {_figure(previous.exact, True)}{_change(test.exact, previous.exact, True)}); "
        f"{_split_counts('test', outcome, previous)}, "
        f"{_split_counts('calibration', outcome, previous)}."
    )
    if previous.test_labels is None:
        why = (
            f"{run.capitalize()} did not record its test labels, so this is a before/after, not a "
            "controlled comparison."
        )
    elif previous.test_labels == outcome.test_labels:
        why = (
            f"{run.capitalize()} was tested on the same labels: the difference is the cascade's (its "
            "calibration labels, tiers or route), not the yardstick's."
        )
    else:
        why = (
            f"The test labels changed since {run}: the cascade and its yardstick both moved, so "
            "this is a before/after, not a controlled comparison."
        )
    return [figures, why]
