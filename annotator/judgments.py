"""The judgment ledger: every model call's result, appended, never overwritten.

A judgment is keyed by (query, product content hash, model, prompt version, attempt). A
successful judgment for the same (query, product content, model, prompt) is a cache hit: the
model is not called again. Failed calls are kept beside it with their raw text and reason;
a pair is retried until it succeeds or has ``max_attempts`` rows. Rows are written right after
each model call, one transaction per batch, so a killed process loses at most the batch in
flight and never writes a row twice (the unique key makes concurrent writers skip duplicates).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, or_, select

from annotator.backends.base import Answer, Backend, Pair
from prompts import Prompt
from store.bulk import insert_ignore
from store.schema import Judgment, utcnow

__all__ = ["TierCall", "grade_cached"]

Key = tuple[int, str]  # (query id, product content hash)
CHUNK = 500


def key_of(pair: Pair) -> Key:
    return (pair.query_id, pair.product_hash)


@dataclass
class TierCall:
    """What grading a set of pairs with one tier did."""

    answers: dict[Key, Answer]
    model_calls: int = 0
    cache_hits: int = 0
    failures: int = 0


def _existing(
    engine: Engine, pairs: Sequence[Pair], model_id: str, prompt_hash: str
) -> tuple[dict[Key, Answer], dict[Key, int], dict[Key, Answer]]:
    """Per pair: the cached successful answer, the attempts made, and the last failure."""
    done: dict[Key, Answer] = {}
    attempts: dict[Key, int] = {}
    failed: dict[Key, tuple[int, Answer]] = {}
    keys = sorted({key_of(p) for p in pairs})
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        stmt = select(
            Judgment.query_id,
            Judgment.product_hash,
            Judgment.attempt,
            Judgment.distribution,
            Judgment.raw_response,
            Judgment.tokens_in,
            Judgment.tokens_out,
            Judgment.latency_s,
            Judgment.error,
        ).where(
            Judgment.model_id == model_id,
            Judgment.prompt_hash == prompt_hash,
            or_(*(and_(Judgment.query_id == q, Judgment.product_hash == h) for q, h in chunk)),
        )
        with engine.connect() as conn:
            for row in conn.execute(stmt):
                key = (row.query_id, row.product_hash)
                attempts[key] = max(attempts.get(key, 0), row.attempt)
                usage = {
                    "raw": row.raw_response,
                    "tokens_in": row.tokens_in,
                    "tokens_out": row.tokens_out,
                    "latency_s": row.latency_s,
                }
                if row.error is None and row.distribution is not None:
                    done[key] = Answer(list(row.distribution), extra={"cached": True}, **usage)
                elif row.attempt >= failed.get(key, (0, None))[0]:
                    failed[key] = (row.attempt, Answer.failed(row.error or "failed", **usage))
    return done, attempts, {key: answer for key, (_, answer) in failed.items()}


def _pending(
    pairs: Sequence[Pair], done: dict[Key, Answer], attempts: dict[Key, int], limit: dict[Key, int]
) -> list[Pair]:
    return [
        p for p in pairs if key_of(p) not in done and attempts.get(key_of(p), 0) < limit[key_of(p)]
    ]


def _no_progress(n: int) -> None:
    return None


def _row(
    pair: Pair,
    answer: Answer,
    attempt: int,
    tier: int,
    backend: Backend,
    prompt: Prompt,
    run_id: int | None,
) -> dict[str, Any]:
    """The ``judgments`` row of one model call."""
    return {
        "query_id": pair.query_id,
        "product_id": pair.product_id,
        "product_hash": pair.product_hash,
        "tier": tier,
        "model_id": backend.model_id,
        "prompt_hash": prompt.version,
        "attempt": attempt,
        "distribution": answer.distribution,
        "grade": answer.grade,
        "raw_response": answer.raw,
        "tokens_in": answer.tokens_in,
        "tokens_out": answer.tokens_out,
        "latency_s": answer.latency_s,
        "error": answer.error,
        "run_id": run_id,
        "created_at": utcnow(),
    }


def grade_cached(
    engine: Engine,
    backend: Backend,
    prompt: Prompt,
    pairs: Sequence[Pair],
    *,
    tier: int,
    max_attempts: int = 2,
    run_id: int | None = None,
    call_batch: int = 64,
    progress: Callable[[int], None] | None = None,
    retry: Collection[Key] = (),
) -> TierCall:
    """Grade ``pairs`` with ``backend``, using and extending the judgment ledger.

    Pairs with a successful judgment are not sent to the model. The others are sent, and
    those that fail are sent again, until each has succeeded or has ``max_attempts`` judgment
    rows in all (across runs). Pairs go to the model ``call_batch`` at a time and each batch's
    judgments are written before the next is sent, so a killed process loses at most one batch.
    The result has an Answer per pair: the cached or new success, or the last failure.
    ``progress`` is called with the number of pairs after each batch of model calls (a
    :func:`core.progress.counter`). Pairs whose key is in ``retry`` (a failed label being
    retried by a later run) get ``max_attempts`` more attempts than they have had.
    """
    done, attempts, failed = _existing(engine, pairs, backend.model_id, prompt.version)
    again = set(retry)
    limit = {
        key_of(p): max_attempts + (attempts.get(key_of(p), 0) if key_of(p) in again else 0)
        for p in pairs
    }
    # A pair out of attempts keeps its last recorded failure (a later call with more attempts
    # retries it); every pair gets an answer.
    call = TierCall(
        answers={**failed, **done},
        cache_hits=len({key_of(p) for p in pairs if key_of(p) in done}),
    )
    unique = list({key_of(p): p for p in pairs}.values())
    todo = _pending(unique, done, attempts, limit)
    advance = progress or _no_progress
    while todo:  # retries: the failures of one pass are sent again, up to max_attempts
        for start in range(0, len(todo), call_batch):
            chunk = todo[start : start + call_batch]
            answers = backend.grade(chunk, prompt)
            call.model_calls += len(chunk)
            rows = []
            for pair, answer in zip(chunk, answers, strict=True):
                key = key_of(pair)
                attempts[key] = attempts.get(key, 0) + 1
                rows.append(_row(pair, answer, attempts[key], tier, backend, prompt, run_id))
                call.answers[key] = answer
                if answer.ok:
                    done[key] = answer
                else:
                    call.failures += 1
            with engine.begin() as conn:
                insert_ignore(conn, Judgment.__table__, rows)
            advance(len(chunk))
        todo = _pending(unique, done, attempts, limit)
    return call
