"""Cascade logic with scripted backends, on SQLite and PostgreSQL.

Scripted backends stand in for models here only to pin down the logic — escalation, caching,
retries, failures, resuming; the real backends have their own tests against real models.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from annotator.backends.base import Answer, Pair
from annotator.backends.scripted import ScriptedBackend
from annotator.calibration import Isotonic
from annotator.cascade import Tier, run_cascade
from annotator.decision import Decider
from annotator.pairs import labelled_pairs
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from prompts import load_prompt
from store.schema import Judgment, Label, Product
from store.splits import SplitsConfig
from tests.conftest import SAMPLE

CONFIDENT = [0.02, 0.02, 0.94, 0.02]
UNSURE = [0.3, 0.2, 0.3, 0.2]


@pytest.fixture
def pairs(engine: Engine) -> list[Pair]:
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    return [
        lp.pair for lp in labelled_pairs(engine, SplitsConfig(fractions=(0.5, 0.25, 0.25, 0.0)))
    ][:30]


def labels(engine: Engine) -> list[tuple[int, int | None, int | None, str]]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                select(Label.product_id, Label.grade, Label.deciding_tier, Label.status)
            ).all()
        )


def test_confident_answers_stop_early_unsure_ones_escalate(
    engine: Engine, pairs: list[Pair]
) -> None:
    even = lambda p: p.product_id % 2 == 0  # noqa: E731
    first = ScriptedBackend("t1", lambda p: CONFIDENT if even(p) else UNSURE)
    second = ScriptedBackend("t2", lambda p: [0.0, 0.0, 0.1, 0.9])
    tiers = [Tier("t1", first, threshold=0.9), Tier("t2", second)]
    report = run_cascade(engine, tiers, load_prompt(), pairs, batch_size=7)
    n_even = sum(1 for p in pairs if even(p))
    assert report.decided_by == {"t1": n_even, "t2": len(pairs) - n_even}
    assert len(second.calls) == len(pairs) - n_even and all(not even(p) for p in second.calls)
    got = labels(engine)
    assert all((g, t) == (2, 1) for pid, g, t, _ in got if pid % 2 == 0)
    assert all((g, t) == (3, 2) for pid, g, t, _ in got if pid % 2 == 1)


def test_running_again_is_all_cache_hits(engine: Engine, pairs: list[Pair]) -> None:
    first = ScriptedBackend("t1", lambda p: UNSURE)
    second = ScriptedBackend("t2", lambda p: CONFIDENT)
    tiers = [Tier("t1", first, threshold=0.9), Tier("t2", second)]
    run_cascade(engine, tiers, load_prompt(), pairs)
    before = labels(engine)
    again = run_cascade(engine, tiers, load_prompt(), pairs)
    assert again.already_labelled == len(pairs) and again.model_calls == {"t1": 0, "t2": 0}
    assert len(first.calls) == len(second.calls) == len(pairs)
    assert labels(engine) == before
    # A new threshold is a new cascade: new labels, but every model answer comes from the cache.
    tiers[0].threshold = 0.5
    third = run_cascade(engine, tiers, load_prompt(), pairs)
    assert third.model_calls == {"t1": 0, "t2": 0} and third.cache_hits["t1"] == len(pairs)


def test_unparseable_answers_are_retried_escalated_and_recorded(
    engine: Engine, pairs: list[Pair]
) -> None:
    attempts: dict[int, int] = {}

    def flaky(pair: Pair) -> Answer | list[float]:
        attempts[pair.product_id] = attempts.get(pair.product_id, 0) + 1
        if pair.product_id % 3 == 0:
            return Answer.failed("unparseable answer: no JSON object", raw="Grade: three")
        if pair.product_id % 3 == 1 and attempts[pair.product_id] == 1:
            return Answer.failed("unparseable answer: no JSON object", raw="hmm")
        return CONFIDENT

    top = ScriptedBackend("top", lambda p: [0.7, 0.1, 0.1, 0.1])
    tiers = [
        Tier("t1", ScriptedBackend("flaky", flaky), threshold=0.5, max_attempts=2),
        Tier("top", top),
    ]
    report = run_cascade(engine, tiers, load_prompt(), pairs)
    always_bad = [p for p in pairs if p.product_id % 3 == 0]
    assert report.decided_by == {"t1": len(pairs) - len(always_bad), "top": len(always_bad)}
    assert {p.product_id for p in top.calls} == {p.product_id for p in always_bad}
    with engine.connect() as conn:
        failed = conn.execute(
            select(
                Judgment.product_id,
                Judgment.attempt,
                Judgment.raw_response,
                Judgment.error,
                Judgment.grade,
            ).where(Judgment.error.is_not(None))
        ).all()
    # every bad answer is kept with its raw text and reason, and never got a grade
    assert {(pid, a) for pid, a, *_ in failed} == {
        (p.product_id, a) for p in always_bad for a in (1, 2)
    } | {(p.product_id, 1) for p in pairs if p.product_id % 3 == 1}
    assert all(
        raw in ("Grade: three", "hmm") and "unparseable" in err and grade is None
        for _, _, raw, err, grade in failed
    )


def test_a_pair_no_tier_can_grade_gets_no_grade(engine: Engine, pairs: list[Pair]) -> None:
    broken = lambda p: RuntimeError("model crashed")  # noqa: E731
    tiers = [
        Tier("t1", ScriptedBackend("a", broken), threshold=0.5),
        Tier("t2", ScriptedBackend("b", broken)),
    ]
    report = run_cascade(engine, tiers, load_prompt(), pairs[:5])
    assert report.failed == 5
    assert [(g, t, s) for _, g, t, s in labels(engine)] == [(None, None, "failed")] * 5


def test_a_later_run_retries_failed_labels_and_replaces_them(
    engine: Engine, pairs: list[Pair]
) -> None:
    five = pairs[:5]
    down = lambda p: RuntimeError("connection refused")  # noqa: E731
    # the same model ids in every run: the server was down, then it is back
    first = run_cascade(
        engine, [Tier("t1", ScriptedBackend("a", down), max_attempts=2)], load_prompt(), five
    )
    assert (first.failed, first.retried) == (5, 0)
    stubborn = five[0].product_id  # still fails: recorded as failed again

    def back(pair: Pair) -> Answer | list[float] | Exception:
        return down(pair) if pair.product_id == stubborn else CONFIDENT

    backend = ScriptedBackend("a", back)
    second = run_cascade(engine, [Tier("t1", backend, max_attempts=2)], load_prompt(), five)
    assert (second.retried, second.failed, second.decided_by) == (5, 1, {"t1": 4})
    assert second.already_labelled == 0 and len(backend.calls) == 5 + 1  # stubborn: 2 attempts
    assert "  failed labels of earlier runs retried: 5" in second.lines()
    rows = labels(engine)
    assert len(rows) == 5  # replaced, not added
    assert [(s, g) for pid, g, _, s in rows if pid == stubborn] == [("failed", None)]
    assert all((s, g) == ("graded", 2) for pid, g, _, s in rows if pid != stubborn)
    with engine.connect() as conn:
        attempts = (
            conn.execute(
                select(Judgment.attempt)
                .where(Judgment.product_id == stubborn)
                .order_by(Judgment.attempt)
            )
            .scalars()
            .all()
        )
    assert attempts == [1, 2, 3, 4]  # every attempt kept, numbered across runs
    third = run_cascade(
        engine, [Tier("t1", ScriptedBackend("a", lambda p: CONFIDENT))], load_prompt(), five
    )
    assert (third.retried, third.already_labelled, third.decided_by) == (1, 4, {"t1": 1})
    assert all(s == "graded" for *_, s in labels(engine)) and len(labels(engine)) == 5


def test_calibration_decides_what_counts_as_confident(engine: Engine, pairs: list[Pair]) -> None:
    # Raw answers say 0.94 for grade 2, but calibration learned that such answers are right only
    # a third of the time: the calibrated confidence is low, so the pair escalates.
    calibration = Isotonic(xs=[[0.0, 1.0]] * 4, ys=[[0.3, 0.3], [0.2, 0.2], [0.3, 0.3], [0.2, 0.2]])
    tiers = [
        Tier("t1", ScriptedBackend("a", lambda p: CONFIDENT), calibration, threshold=0.9),
        Tier("t2", ScriptedBackend("b", lambda p: CONFIDENT)),
    ]
    report = run_cascade(engine, tiers, load_prompt(), pairs[:4])
    assert report.decided_by == {"t1": 0, "t2": 4}


def test_resume_after_a_crash_loses_and_duplicates_nothing(
    engine: Engine, pairs: list[Pair], tmp_path: Path
) -> None:
    calls = {"n": 0}

    def crashing(pair: Pair) -> list[float]:
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt  # dies mid-batch, like a kill
        return CONFIDENT

    tiers = [Tier("t1", ScriptedBackend("a", crashing), threshold=0.5)]
    with pytest.raises(KeyboardInterrupt):
        run_cascade(engine, tiers, load_prompt(), pairs, batch_size=5)
    assert len(labels(engine)) == 10  # two whole batches were written
    report = run_cascade(engine, tiers, load_prompt(), pairs, batch_size=5)
    assert report.already_labelled == 10 and report.model_calls["t1"] == len(pairs) - 10
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Judgment)).scalar_one() == len(pairs)
        assert conn.execute(select(func.count()).select_from(Label)).scalar_one() == len(pairs)


def test_products_with_identical_content_are_graded_once_and_each_labelled(
    engine: Engine, pairs: list[Pair]
) -> None:
    # Home Depot lists some products twice under different ids with the same title.
    original = pairs[0]
    twin = Pair(original.query_id, 10_000, original.product_hash, original.query, original.product)
    with engine.begin() as conn:
        conn.execute(
            Product.__table__.insert().values(
                id=10_000,
                external_id="twin-of-" + str(original.product_id),
                title=str(original.product["title"]),
                content_hash=original.product_hash,
                attributes={},
                raw={},
            )
        )
    backend = ScriptedBackend("t1", lambda p: CONFIDENT)
    report = run_cascade(engine, [Tier("t1", backend)], load_prompt(), [original, twin])
    assert len(backend.calls) == 1  # one model call for the shared content
    assert report.decided_by == {"t1": 2} and report.already_labelled == 0
    assert [(pid, g) for pid, g, _, _ in labels(engine)] == [(original.product_id, 2), (10_000, 2)]
    again = run_cascade(engine, [Tier("t1", backend)], load_prompt(), [original, twin])
    assert again.already_labelled == 2 and len(backend.calls) == 1


def test_tier_decide_uses_its_decider_and_reports_a_failure() -> None:
    backend = ScriptedBackend("t", lambda p: CONFIDENT)
    # the default decider is the argmax: grade 2 at .94
    assert Tier("t", backend).decide(CONFIDENT) == (2, pytest.approx(0.94))
    # qwk: E[G] = .02 + 2 * .94 + 3 * .02 = 1.96 -> 2 at the default cuts; confidence
    # 1 - (.02 * 4 + .02 * 1 + .02 * 1) / 9 = 1 - .12 / 9
    assert Tier("t", backend, decider=Decider("qwk")).decide(CONFIDENT) == (
        2,
        pytest.approx(1 - 0.12 / 9),
    )
    # a failed answer has no grade and a confidence no threshold accepts
    assert Tier("t", backend).decide(None) == (None, -1.0)
