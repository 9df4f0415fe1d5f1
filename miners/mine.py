"""Mining: run every channel over the store's queries, keep their ranks, sort the disagreement.

:func:`mine` indexes the catalog with each configured channel, searches every query, and writes
each channel's top-K (rank, score) to ``retrievals`` and the disagreement sets (plus
token-similar and random negatives) to ``candidates``, one query batch per transaction. It
records the run in ``runs`` with per-channel timings, pairwise overlap@K, the share of results
unique to each channel and the counts per set.

Mining is idempotent and resumable. A run is identified by a fingerprint of the mining config,
the products' content hashes and the queries: mining the same thing again returns the finished
run without writing anything; a run that was killed resumes, skipping the query batches it had
already written (a query counts as written once it has candidates).
"""

from __future__ import annotations

import itertools
import logging
import resource
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, func, insert, select, update

from miners.base import ProductDoc, SearchResult
from miners.corpus import QueryRow, load_products, load_queries
from miners.disagreement import Cutoffs, OverlapCounter, classify_ranked
from miners.negatives import TfidfNegatives, random_negatives
from miners.registry import build_channel
from store.bulk import bulk_insert
from store.config import PipelineConfig
from store.errors import DissentError
from store.hashing import content_hash
from store.ledger import runs_with_fingerprint
from store.progress import track
from store.schema import Candidate, Run, utcnow

__all__ = ["MiningReport", "mine"]

log = logging.getLogger(__name__)

OVERLAP_KS = (100, 500)
# Part of every run's fingerprint: bump it when a change to the miners changes their output,
# so that runs mined by older code are not taken for the same run.
MINER_VERSION = 3
RETRIEVAL_COLUMNS = ("run_id", "query_id", "channel", "rank", "product_id", "score")
CANDIDATE_COLUMNS = ("run_id", "query_id", "product_id", "candidate_set", "ranks")


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

    def lines(self) -> list[str]:
        """The report as printable lines."""
        reused = " (already mined: nothing written)" if self.reused else ""
        out = [
            f"mining run {self.run_id}{reused}: "
            f"{self.queries:,} queries over {self.products:,} products in {self.seconds:.1f} s, "
            f"peak memory {self.peak_mib:,.0f} MiB"
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
    config: PipelineConfig, products: Sequence[ProductDoc], queries: Sequence[QueryRow]
) -> str:
    mining = config.mining.model_dump(mode="json", exclude={"query_batch_size"})
    return content_hash(
        {
            "version": MINER_VERSION,
            "mining": mining,
            "products": content_hash([(p.id, p.content_hash) for p in products]),
            "queries": content_hash([(q.id, q.text) for q in queries]),
        }
    )


def _done_queries(engine: Engine, run_id: int) -> set[int]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                select(Candidate.query_id).where(Candidate.run_id == run_id).distinct()
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
    order = ("easy_positive", "hard_positive", "hard_negative", "token_negative", "random_negative")
    return {name: found.get(name, 0) for name in order}


def _retrieval_rows(
    run_id: int,
    query_ids: np.ndarray,
    results: dict[str, SearchResult],
    rows: slice,
    keep: np.ndarray,
) -> list[tuple[Any, ...]]:
    """(run, query, channel, rank, product, score) tuples for a batch of queries, vectorised."""
    out: list[tuple[Any, ...]] = []
    for name, result in results.items():
        ids = result.ids[rows]
        mask = (ids >= 0) & keep[:, None]
        ranks = np.broadcast_to(np.arange(1, ids.shape[1] + 1), ids.shape)
        qids = np.broadcast_to(query_ids[:, None], ids.shape)
        out.extend(
            zip(
                itertools.repeat(run_id),
                qids[mask].tolist(),
                itertools.repeat(name),
                ranks[mask].tolist(),
                ids[mask].tolist(),
                result.scores[rows][mask].astype(float).tolist(),
            )
        )
    return out


@contextmanager
def _bulk_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for mining's bulk writes, in one transaction per use.

    On SQLite, foreign-key checks are off for it: every id written comes from the store
    itself, and the checks cost a third of the insert time on millions of rows.
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()  # the pragma autobegan a transaction; end it before ours
        try:
            with conn.begin():
                yield conn
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def mine(
    engine: Engine,
    config: PipelineConfig,
    *,
    query_limit: int | None = None,
    index_dir: Path | None = None,
) -> MiningReport:
    """Mine candidates for the store's queries (see the module docstring).

    Args:
        engine: the store.
        config: the pipeline config; ``config.mining`` holds channels and cut-offs.
        query_limit: mine only the first ``query_limit`` queries (by id).
        index_dir: save each channel's index under ``index_dir/<channel>``.

    Raises:
        DissentError: the store has no products or queries; a channel fails.
    """
    started = time.perf_counter()
    cfg = config.mining
    products = load_products(engine)
    queries = load_queries(engine, limit=query_limit)
    if not products or not queries:
        raise DissentError(
            f"nothing to mine: the store has {len(products)} products and {len(queries)} queries; "
            "run `dissent ingest` first"
        )
    fingerprint = _fingerprint(config, products, queries)
    run = next(iter(runs_with_fingerprint(engine, "mine", fingerprint)), None)
    if run is not None and run.status == "succeeded":
        log.info("mining run %d already covers this config, catalog and queries", run.id)
        report = MiningReport(**{**run.counts["report"], "reused": True})
        return report
    with engine.begin() as conn:
        if run is None:
            run_id = conn.execute(
                insert(Run).values(
                    flow="mine",
                    parameters={
                        "fingerprint": fingerprint,
                        "mining": cfg.model_dump(mode="json"),
                        "query_limit": query_limit,
                    },
                    versions={"schema": "0001"},
                    counts={},
                    cost={},
                    status="running",
                    started_at=utcnow(),
                )
            ).inserted_primary_key
            assert run_id is not None
            run_id = run_id[0]
        else:
            run_id = run.id
            log.info("resuming mining run %d", run_id)
    done = _done_queries(engine, run_id)
    report = MiningReport(run_id=run_id, reused=False, products=len(products), queries=len(queries))

    texts = [q.text for q in queries]
    results: dict[str, SearchResult] = {}
    cache_dir = config.workdir / "cache" / "embeddings"
    for channel_name in cfg.channels:
        name = str(channel_name)
        channel = build_channel(name, cfg, engine=engine, cache_dir=cache_dir)
        t0 = time.perf_counter()
        channel.index(products)
        t1 = time.perf_counter()
        # All queries in one call: the encoder batches them by length, so results do not
        # depend on query_batch_size (a resumed run must find exactly what a clean run finds).
        results[name] = channel.search(texts, cfg.top_k)
        report.timings[name] = {"index": t1 - t0, "search": time.perf_counter() - t1}
        if index_dir is not None:
            channel.save(index_dir / name)
        log.info(
            "%s: indexed in %.1f s, searched in %.1f s", name, t1 - t0, time.perf_counter() - t1
        )

    t0 = time.perf_counter()
    retrieved = [
        {int(p) for r in results.values() for p in r.ids[i] if p >= 0} for i in range(len(queries))
    ]
    token = TfidfNegatives(products).search(texts, retrieved, cfg.token_negatives)
    all_ids = np.array([p.id for p in products], dtype=np.int64)
    report.timings["negatives"] = {"tfidf+random": time.perf_counter() - t0}

    t0 = time.perf_counter()
    cutoffs = Cutoffs(cfg.easy_positive_k, cfg.hard_positive_k, cfg.hard_negative_k)
    overlap = OverlapCounter(cfg.channels, [k for k in OVERLAP_KS if k <= cfg.top_k] or [cfg.top_k])
    written = 0
    channels = [str(c) for c in cfg.channels]
    query_ids = np.array([q.id for q in queries], dtype=np.int64)
    for start in track(range(0, len(queries), cfg.query_batch_size), "writing candidates"):
        stop = min(start + cfg.query_batch_size, len(queries))
        keep = np.array([qid not in done for qid in query_ids[start:stop].tolist()], dtype=bool)
        retrieval_rows = _retrieval_rows(
            run_id, query_ids[start:stop], results, slice(start, stop), keep
        )
        candidate_rows: list[tuple[Any, ...]] = []
        for i in range(start, stop):
            ranked = {name: r.ids[i][r.ids[i] >= 0] for name, r in results.items()}
            overlap.add_ranked({name: ids.tolist() for name, ids in ranked.items()})
            qid = queries[i].id
            if qid in done:
                continue
            members, ranks, sets = classify_ranked(ranked, cutoffs, channels)
            for pid, row, found in zip(members.tolist(), ranks.tolist(), sets, strict=True):
                summary: dict[str, Any] = {c: r for c, r in zip(channels, row, strict=True) if r}
                summary["sets"] = list(found)
                candidate_rows.append((run_id, qid, pid, found[0], summary))
            picked = {pid for pid, _ in token[i]}
            for pid, score in token[i]:
                candidate_rows.append(
                    (
                        run_id,
                        qid,
                        pid,
                        "token_negative",
                        {"tfidf": round(score, 6), "sets": ["token_negative"]},
                    )
                )
            for pid in random_negatives(
                all_ids, qid, retrieved[i] | picked, cfg.random_negatives, cfg.seed
            ):
                candidate_rows.append(
                    (run_id, qid, pid, "random_negative", {"sets": ["random_negative"]})
                )
        with _bulk_connection(engine) as conn:
            bulk_insert(conn, "retrievals", RETRIEVAL_COLUMNS, retrieval_rows)
            bulk_insert(
                conn, "candidates", CANDIDATE_COLUMNS, candidate_rows, json_columns=("ranks",)
            )
        written += len(retrieval_rows)
    report.timings["store"] = {"write": time.perf_counter() - t0}

    stats = overlap.stats()
    report.overlap = {"jaccard": stats.jaccard, "unique_share": stats.unique_share}
    report.counts = {**_set_counts(engine, run_id), "retrievals_written": written}
    report.seconds = time.perf_counter() - started
    report.peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with engine.begin() as conn:
        conn.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(status="succeeded", finished_at=utcnow(), counts={"report": asdict(report)})
        )
    return report
