"""Mining: run every channel over the store's queries, keep their ranks, sort the disagreement.

:func:`mine` indexes the catalog with each configured channel, searches every query, and writes
each channel's top-K (product ids and scores, one row per list: :mod:`store.ranked`) to
``ranked_lists`` and the disagreement sets (plus
token-similar and random negatives) to ``candidates``, one query batch per transaction. It
records the run in ``runs`` with per-channel timings, pairwise overlap@K, the share of results
unique to each channel and the counts per set.

It runs as four steps: find or resume the run in the ledger (:func:`mine`), retrieve with
every channel (:func:`_retrieve`), classify each query's rank lists into sets
(:func:`miners.candidates.classify_query`, pure), and write one batch of queries per transaction
(:func:`_write_batch`).

Mining is idempotent and resumable. A run is identified by a fingerprint of the mining config,
the products' content hashes and the queries: mining the same thing again returns the finished
run without writing anything; a run that was killed resumes, skipping the query batches it had
already written (a query counts as written once it has ranked lists or candidates).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, Engine, func, select

from core.encoder import resolve_runtime
from core.errors import DissentError
from core.hashing import content_hash
from core.paths import Workdir
from core.precision import resolve_precision
from core.progress import track
from miners.base import SearchResult
from miners.candidates import QueryCandidates, RanksJson, classify_query
from miners.config import MiningConfig, MiningSettings
from miners.disagreement import SETS, Cutoffs, OverlapCounter, rank_matrix
from miners.negatives import TfidfNegatives, random_negatives
from miners.registry import build_channel
from store.bulk import bulk_insert, skip_row_triggers
from store.catalog import ProductDoc, QueryRow, load_products, load_queries
from store.ledger import Flow, recorded_run, runs_with_fingerprint
from store.ranked import RANKED_COLUMNS, list_rows
from store.schema import Candidate, RankedList
from store.splits import evaluation_queries

__all__ = ["MiningReport", "mine", "queries_to_mine"]

log = logging.getLogger(__name__)

OVERLAP_KS = (100, 500)
# Part of every run's fingerprint: bump it when a change to the miners changes their output,
# so that runs mined by older code are not taken for the same run.
MINER_VERSION = 4
CANDIDATE_COLUMNS = ("run_id", "query_id", "product_id", "candidate_set", "ranks")
WRITE_BATCH = 256  # queries whose candidates are written per transaction


@dataclass
class MiningReport:
    """What a mining run did and found."""

    run_id: int
    reused: bool
    products: int
    queries: int
    timings: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    overlap: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    peak_mib: float = 0.0
    held_out: int = 0  # evaluation queries not mined

    def lines(self) -> list[str]:
        """The report as printable lines."""
        reused = " (already mined: nothing written)" if self.reused else ""
        out = [
            f"mining run {self.run_id}{reused}: "
            f"{self.queries:,} queries over {self.products:,} products in {self.seconds:.1f} s, "
            f"peak memory {self.peak_mib:,.0f} MiB; {self.held_out:,} evaluation queries held out"
        ]
        for name, t in self.timings.items():
            out.append(f"  {name:10s} " + ", ".join(f"{k} {v:.1f} s" for k, v in t.items()))
        for k, pairs in self.overlap.get("jaccard", {}).items():
            out.append(
                f"  overlap@{k} (Jaccard): " + ", ".join(f"{p} {v:.1%}" for p, v in pairs.items())
            )
        for k, shares in self.overlap.get("unique_share", {}).items():
            out.append(f"  unique@{k}: " + ", ".join(f"{c} {v:.1%}" for c, v in shares.items()))
        out.append("  candidates: " + ", ".join(f"{s} {n:,}" for s, n in self.counts.items()))
        return out


def _fingerprint(
    mining: MiningConfig,
    channel_options: Mapping[str, Mapping[str, Any]],
    products: Sequence[ProductDoc],
    queries: Sequence[QueryRow],
) -> str:
    return content_hash(
        {
            "version": MINER_VERSION,
            "mining": mining.model_dump(mode="json"),
            "channels": channel_options,
            "products": content_hash([(p.id, p.content_hash) for p in products]),
            "queries": content_hash([(q.id, q.text) for q in queries]),
        }
    )


def queries_to_mine(
    engine: Engine, config: MiningSettings, limit: int | None
) -> tuple[list[QueryRow], int]:
    """The queries to mine (the first ``limit`` by id) and how many evaluation queries were
    held out (:mod:`store.splits`: they are never mined unless the config says so)."""
    queries = load_queries(engine)
    held: set[int] = set()
    if not config.mining.include_evaluation_queries:
        held = evaluation_queries(engine, config.splits)
        queries = [q for q in queries if q.id not in held]
    return queries[:limit], len(held)


def _done_queries(engine: Engine, run_id: int) -> set[int]:
    """The queries a run has written: each has its ranked lists (even empty ones) and its
    candidates, written together; a query may have no candidates (one channel, no sampled
    negatives), and runs converted from ``retrievals`` may lack lists for queries no channel
    answered, so either counts."""
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(Candidate.query_id)
                .where(Candidate.run_id == run_id)
                .union(select(RankedList.query_id).where(RankedList.run_id == run_id))
            ).scalars()
        )


def _set_counts(engine: Engine, run_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Candidate.candidate_set, func.count())
            .where(Candidate.run_id == run_id)
            .group_by(Candidate.candidate_set)
        ).all()
    found = {name: int(n) for name, n in rows}
    return {name: found.get(name, 0) for name in SETS}


def _retrieve(
    engine: Engine,
    config: MiningSettings,
    products: Sequence[ProductDoc],
    texts: Sequence[str],
    report: MiningReport,
    index_dir: Path | None,
    channel_options: Mapping[str, Mapping[str, Any]],
) -> dict[str, SearchResult]:
    """Index the catalog and search every query with each configured channel."""
    results: dict[str, SearchResult] = {}
    cache_dir = Workdir(config.workdir).embedding_cache
    for name in map(str, config.mining.channels):
        channel = build_channel(
            name,
            config.mining,
            engine=engine,
            cache_dir=cache_dir,
            precision=config.precision,
            options=channel_options.get(name),
        )
        t0 = time.perf_counter()
        channel.index(products)
        t1 = time.perf_counter()
        # All queries in one call: the encoder batches them by length, so results do not
        # depend on query_batch_size (a resumed run must find exactly what a clean run finds).
        results[name] = channel.search(texts, config.mining.top_k)
        report.timings[name] = {"index": t1 - t0, "search": time.perf_counter() - t1}
        if index_dir is not None:
            channel.save(index_dir / name)
        log.info(
            "%s: %s", name, ", ".join(f"{k} {v:.1f} s" for k, v in report.timings[name].items())
        )
    return results


@contextmanager
def _bulk_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for mining's bulk writes, in one transaction per use.

    Foreign-key checks are off for it where the database allows: every id written comes from
    the store itself, and the checks cost a third of the insert time on millions of rows on
    SQLite, and half of it on PostgreSQL (:func:`store.bulk.skip_row_triggers` says when).
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()  # the pragma autobegan a transaction; end it before ours
        try:
            with conn.begin():
                if not sqlite:
                    skip_row_triggers(conn)
                yield conn
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def _write_batch(
    engine: Engine,
    run_id: int,
    query_ids: npt.NDArray[np.int64],
    results: dict[str, SearchResult],
    rows: slice,
    keep: npt.NDArray[np.bool_],
    candidates: Sequence[QueryCandidates],
) -> int:
    """Write one batch of queries' ranked lists and candidates in one transaction; returns
    the number of retrievals (list entries) written."""
    lists = {name: (r.ids[rows][keep], r.scores[rows][keep]) for name, r in results.items()}
    ranked = list_rows(run_id, query_ids[rows][keep].tolist(), lists)
    candidate_rows = [
        (run_id, c.query_id, pid, name, ranks) for c in candidates for pid, name, ranks in c.rows
    ]
    with _bulk_connection(engine) as conn:
        bulk_insert(conn, "ranked_lists", RANKED_COLUMNS, ranked)
        bulk_insert(conn, "candidates", CANDIDATE_COLUMNS, candidate_rows)
    return sum(row[3] for row in ranked)


def _classify_and_write(
    engine: Engine,
    run_id: int,
    mining: MiningConfig,
    products: Sequence[ProductDoc],
    queries: Sequence[QueryRow],
    results: dict[str, SearchResult],
    report: MiningReport,
) -> int:
    """Draw the negatives, classify every query and write the batches a resumed run lacks."""
    t0 = time.perf_counter()
    texts = [q.text for q in queries]
    retrieved = [
        np.unique(np.concatenate([r.ids[i][r.ids[i] >= 0] for r in results.values()]))
        for i in range(len(texts))
    ]
    token = TfidfNegatives(products).search(texts, retrieved, mining.token_negatives)
    by_external_id = sorted(products, key=lambda p: p.external_id)
    all_ids = np.array([p.id for p in by_external_id], dtype=np.int64)
    report.timings["negatives"] = {"tfidf+random": time.perf_counter() - t0}

    t0 = time.perf_counter()
    done = _done_queries(engine, run_id)
    cutoffs = Cutoffs(mining.easy_positive_k, mining.hard_positive_k, mining.hard_negative_k)
    ks = [k for k in OVERLAP_KS if k <= mining.top_k] or [mining.top_k]
    channels = list(results)
    overlap = OverlapCounter(channels, ks)
    ranks_json = RanksJson(channels)
    query_ids = np.array([q.id for q in queries], dtype=np.int64)
    written = 0
    for start in track(range(0, len(queries), WRITE_BATCH), "writing candidates"):
        rows = slice(start, min(start + WRITE_BATCH, len(queries)))
        keep = np.array([qid not in done for qid in query_ids[rows].tolist()], dtype=bool)
        candidates = []
        for i in range(rows.start, rows.stop):
            ranked = {name: r.ids[i][r.ids[i] >= 0] for name, r in results.items()}
            table = rank_matrix(ranked, channels)
            overlap.add_matrix(table[1])
            qid = queries[i].id
            if qid in done:
                continue
            excluded = set(retrieved[i].tolist()) | {pid for pid, _ in token[i]}
            randoms = random_negatives(
                all_ids, queries[i].text, excluded, mining.random_negatives, mining.seed
            )
            candidates.append(classify_query(qid, table, cutoffs, token[i], randoms, ranks_json))
        written += _write_batch(engine, run_id, query_ids, results, rows, keep, candidates)
    report.timings["store"] = {"write": time.perf_counter() - t0}
    stats = overlap.stats()
    report.overlap = {"jaccard": stats.jaccard, "unique_share": stats.unique_share}
    return written


def mine(
    engine: Engine,
    config: MiningSettings,
    *,
    query_limit: int | None = None,
    index_dir: Path | None = None,
    channel_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> MiningReport:
    """Mine candidates for the store's queries (see the module docstring).

    Args:
        engine: the store.
        config: the pipeline config; ``config.mining`` holds channels and cut-offs.
        query_limit: mine only the first ``query_limit`` queries (by id).
        index_dir: save each channel's index under ``index_dir/<channel>``.
        channel_options: per channel name, keyword arguments for its constructor beyond its
            config section (experiments: ``{"catalog": {"title_search": "always"}}``); part of
            the run's fingerprint.

    Raises:
        DissentError: the store has no products or queries; a channel fails.
    """
    if query_limit is not None and query_limit < 1:
        raise DissentError(f"query_limit must be a positive number of queries, got {query_limit}")
    started = time.perf_counter()
    products = load_products(engine)
    queries, held_out = queries_to_mine(engine, config, query_limit)
    if not products or not queries:
        raise DissentError(
            f"nothing to mine: the store has {len(products)} products and {len(queries)} queries; "
            "run `dissent ingest` first"
        )
    options = {name: dict(value) for name, value in (channel_options or {}).items()}
    dense = "dense" in config.mining.channels
    precision = resolve_precision(config.precision) if dense else None
    runtime = (
        resolve_runtime(config.mining.dense.runtime, precision or "float32") if dense else None
    )
    fingerprint = _fingerprint(
        config.mining,
        {**options, "precision": {"dense": precision}, "runtime": {"dense": runtime}},
        products,
        queries,
    )
    previous = next(iter(runs_with_fingerprint(engine, Flow.MINE, fingerprint)), None)
    if previous is not None and previous.status == "succeeded":
        log.info("mining run %d already covers this config, catalog and queries", previous.id)
        return MiningReport(**{**previous.counts["report"], "reused": True})
    if previous is not None:
        log.info("resuming mining run %d", previous.id)
    parameters = {
        "mining": config.mining.model_dump(mode="json"),
        "channel_options": options,
        "precision": precision,
        "runtime": runtime,
        "query_limit": query_limit,
    }
    with recorded_run(
        engine,
        Flow.MINE,
        parameters,
        {"miner": MINER_VERSION},
        resume=previous.id if previous is not None else None,
        fingerprint=fingerprint,
    ) as run:
        report = MiningReport(run.id, reused=False, products=len(products), queries=len(queries))
        report.held_out = held_out
        texts = [q.text for q in queries]
        results = _retrieve(engine, config, products, texts, report, index_dir, options)
        written = _classify_and_write(
            engine, run.id, config.mining, products, queries, results, report
        )
        report.counts = {**_set_counts(engine, run.id), "retrievals_written": written}
        report.seconds = time.perf_counter() - started
        report.peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        run.counts = {"report": asdict(report)}
    return report
