"""Benchmark: many people labelling at once on the review page (issue 31).

On a fresh store of its own (a new PostgreSQL database on ``--postgres``, dropped at the end,
or a SQLite file with ``--store sqlite``) it builds ``--queries`` queries with ``--per-query``
mined candidates each (distinct products), queues every pair with ``dissent review``'s
:func:`review.queue.fill_queue` (random order; a seeded ``--overlap`` share wanted from two
people), adds ``--people`` reviewers and starts the real server as a subprocess
(``dissent review -c <config> --port <free port>``). Then ``--people`` simulated people label
at once for ``--seconds`` through the JSON API, each with a client of its own: ask for the next
pair, think for a uniform 0-``--think-ms`` ms, then skip it (``--skip`` of the time) or grade it
at random, and take the grade back (``--undo`` of the grades; the next pair asked for is then
the same one, graded again). The server is stopped (SIGINT) and must be gone.

From the people's log and the store (:func:`bench.review_load_metrics.check`): labels written,
lost, duplicated, pairs handed to more people at once than they want, undo mismatches,
``human_labels`` rows that do not match the grades, and each request's latency (p50, p95,
p99; the target: p95 of ``/api/next`` at most 100 ms). The people and the server share this
machine's cores, so the latencies include the clients' own cost. Writes
``bench/results/review-load.json`` (``review-load-sqlite.json`` for SQLite).

    python -m bench.review_load [--people 20] [--seconds 60] [--store postgresql|sqlite]
        [--queries 3000] [--per-query 5] [--overlap 0.1] [--think-ms 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import Engine, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from bench.command import command_line, write_results
from bench.review_load_metrics import Call, LoadCheck, check
from flows.config import load_config
from review.people import add_reviewer, reviewers
from review.queue import fill_queue
from store.db import open_store
from store.ledger import Flow, recorded_run
from store.schema import CANDIDATE_SETS, Candidate, Product, Query, ReviewItem, utcnow

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TARGET_P95_MS = 100.0


def build_load_store(engine: Engine, queries: int = 3000, per_query: int = 5) -> int:
    """``queries`` queries with ``per_query`` mined candidates each (distinct products, one
    per disagreement set in turn), in bulk; returns the mining run."""
    now = utcnow()
    query_rows = [
        {"id": q, "external_id": f"q{q}", "text": f"load query {q}", "created_at": now}
        for q in range(1, queries + 1)
    ]
    product_rows = [
        {
            "id": p,
            "external_id": f"p{p}",
            "title": f"Load product {p}",
            "brand": "Acme",
            "product_type": "Widget",
            "attributes": {"size": str(p % 7)},
            "raw": {},
            "content_hash": f"h{p}",
            "created_at": now,
            "updated_at": now,
        }
        for p in range(1, queries * per_query + 1)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Query), query_rows)
        conn.execute(insert(Product), product_rows)
    with recorded_run(engine, Flow.MINE, {"bench": "review_load"}, fingerprint="load") as run:
        run_id = run.id
    candidates = [
        {
            "run_id": run_id,
            "query_id": q,
            "product_id": (q - 1) * per_query + k + 1,
            "candidate_set": CANDIDATE_SETS[k % len(CANDIDATE_SETS)],
            "ranks": {},
        }
        for q in range(1, queries + 1)
        for k in range(per_query)
    ]
    with engine.begin() as conn:
        conn.execute(insert(Candidate), candidates)
    return run_id


@contextmanager
def fresh_store(kind: str, postgres: str, folder: Path) -> Iterator[str]:
    """A new, empty store's URL: a PostgreSQL database dropped afterwards, or a SQLite file."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'store.db'}"
        return
    admin_url = make_url(postgres)
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"dissent_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dissent() -> str:
    beside = Path(sys.executable).parent / "dissent"
    return str(beside) if beside.exists() else "dissent"


@contextmanager
def served(config: Path, log: Path, report: dict[str, Any]) -> Iterator[str]:
    """``dissent review`` on a free port while the block runs; its base URL. Afterwards
    ``report`` says how it ended: exit code, whether the process is gone, error lines."""
    port = _free_port()
    command = [_dissent(), "review", "-c", str(config), "--host", "127.0.0.1", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(process, url, log)
        yield url
    finally:
        report["cpu_s"] = _cpu_seconds(process.pid)
        process.send_signal(signal.SIGINT)
        try:
            report["exit_code"] = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            report["exit_code"] = process.wait(timeout=30)
            report["killed"] = True
        report["gone"] = not _alive(process.pid)
        lines = log.read_text(errors="replace").splitlines()
        report["traceback_lines"] = sum("Traceback" in line for line in lines)
        report["error_lines"] = sum(" 500 " in line or "ERROR" in line for line in lines)


def _cpu_seconds(pid: int) -> float | None:
    """The user and system CPU time a process has used (Linux; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dissent review exited ({process.returncode}): {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"dissent review did not answer /healthz within 60 s: {log.read_text()}")


async def _post(
    client: httpx.AsyncClient, person: int, action: str, body: dict[str, Any] | None = None
) -> tuple[Call, dict[str, Any]]:
    """One request, timed; the call as the person saw it and the answer's JSON."""
    sent = time.perf_counter()
    try:
        answer = await client.post(f"/api/{action}", json=body)
        status = answer.status_code
        data = answer.json() if status == 200 else {}
    except httpx.HTTPError:
        status, data = 0, {}
    answered = time.perf_counter()
    item = data.get("item_id", (body or {}).get("item_id"))
    grade = (body or {}).get("grade")
    recorded = data.get("recorded") if action == "label" else None
    return Call(person, action, status, sent, answered, item, grade, recorded), data


async def simulate_person(
    url: str, person: int, token: str, until: float, options: argparse.Namespace, seed: int
) -> list[Call]:
    """One person labelling until ``until`` (perf_counter seconds); their log."""
    rng, calls = random.Random(seed), []
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        while time.perf_counter() < until:
            call, task = await _post(client, person, "next")
            calls.append(call)
            if call.status == 204:
                break
            if call.status != 200:
                await asyncio.sleep(0.05)
                continue
            think = rng.uniform(0, options.think_ms) / 1000
            await asyncio.sleep(think)
            if time.perf_counter() >= until:
                break  # the pair stays held: a person who left mid-pair
            item = task["item_id"]
            if rng.random() < options.skip:
                calls.append((await _post(client, person, "skip", {"item_id": item}))[0])
                continue
            body = {"item_id": item, "grade": rng.randrange(4), "note": None, "seconds": think}
            call, _ = await _post(client, person, "label", body)
            calls.append(call)
            if call.recorded and rng.random() < options.undo:
                calls.append((await _post(client, person, "undo"))[0])
    return calls


async def simulate(url: str, people: dict[int, str], options: argparse.Namespace) -> list[Call]:
    """Everyone at once for ``options.seconds``; every request anyone made."""
    until = time.perf_counter() + options.seconds
    logs = await asyncio.gather(
        *(
            simulate_person(url, person, token, until, options, options.seed * 1000 + k)
            for k, (person, token) in enumerate(sorted(people.items()))
        )
    )
    return [call for log in logs for call in log]


def prepare(url: str, workdir: Path, options: argparse.Namespace) -> tuple[Path, dict[int, str]]:
    """Build the store and queue, add the people, write the server's config; returns the
    config's path and each person's token by reviewer id."""
    config = load_config(None, environ={})
    config.review.overlap_share = options.overlap
    engine = open_store(url)
    try:
        build_load_store(engine, options.queries, options.per_query)
        fill_queue(engine, config, options.queries * options.per_query, strategy="random")
        tokens = {
            f"person{k:02d}": add_reviewer(engine, f"person{k:02d}") for k in range(options.people)
        }
        people = {person: tokens[name] for person, name in reviewers(engine).items()}
    finally:
        engine.dispose()
    path = workdir / "review-load.yaml"
    document = {
        "workdir": str(workdir / "work"),
        "store": {"url": url},
        "review": {"overlap_share": options.overlap},
    }
    path.write_text(yaml.safe_dump(document))
    return path, people


def _queue(url: str) -> dict[str, int]:
    engine = open_store(url)
    try:
        with engine.connect() as conn:
            pairs = conn.scalar(select(func.count()).select_from(ReviewItem)) or 0
            overlap = conn.scalar(
                select(func.count()).select_from(ReviewItem).where(ReviewItem.raters == 2)
            )
        return {"pairs": pairs, "overlap": overlap or 0}
    finally:
        engine.dispose()


def run(options: argparse.Namespace) -> dict[str, Any]:
    """The benchmark (see the module docstring); its results."""
    server: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        fresh_store(options.store, options.postgres, Path(tmp)) as url,
    ):
        start = time.perf_counter()
        config, people = prepare(url, Path(tmp), options)
        timing = {"store_built_s": round(time.perf_counter() - start, 1)}
        timing["load_average_before"] = round(os.getloadavg()[0], 2)
        with served(config, Path(tmp) / "server.log", server) as base:
            began, cpu = time.perf_counter(), time.process_time()
            calls = asyncio.run(simulate(base, people, options))
            end = time.perf_counter()
            timing["people_cpu_s"] = round(time.process_time() - cpu, 1)
        timing["load_average_after"] = round(os.getloadavg()[0], 2)
        engine = open_store(url)
        try:
            found = check(engine, calls, end=end)
        finally:
            engine.dispose()
        queue = _queue(url)
    return _results(options, found, calls, end - began, server, {**timing, "queue": queue})


def _results(
    options: argparse.Namespace,
    found: LoadCheck,
    calls: list[Call],
    elapsed: float,
    server: dict[str, Any],
    context: dict[str, Any],
) -> dict[str, Any]:
    next_ms = found.latency_ms.get("next", {})
    return {
        "command": command_line("bench.review_load"),
        "cores": os.cpu_count(),
        "store": options.store,
        "people": options.people,
        "seconds": options.seconds,
        "elapsed_s": round(elapsed, 2),
        "think_ms": [0, options.think_ms],
        "skip_share": options.skip,
        "undo_share": options.undo,
        **context,
        "labels_written": found.written,
        "lost": found.lost,
        "duplicated": found.duplicated,
        "double_handed": found.double_handed,
        "p50_ms": next_ms.get("p50"),
        "p95_ms": next_ms.get("p95"),
        "p99_ms": next_ms.get("p99"),
        "target_p95_ms": TARGET_P95_MS,
        "p95_within_target": next_ms.get("p95", float("inf")) <= TARGET_P95_MS,
        "labels_per_s": round(found.written / elapsed, 1),
        "requests_per_s": round(len(calls) / elapsed, 1),
        "server": server,
        "checks": asdict(found),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres", default=POSTGRES, help="a server to create the store on")
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--per-query", type=int, default=5)
    parser.add_argument(
        "--overlap", type=float, default=load_config(None, environ={}).review.overlap_share
    )
    parser.add_argument("--think-ms", type=float, default=200)
    parser.add_argument("--skip", type=float, default=0.05, help="share of pairs skipped")
    parser.add_argument("--undo", type=float, default=0.03, help="share of grades undone")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    results = run(options)
    name = "review-load.json" if options.store == "postgresql" else "review-load-sqlite.json"
    write_results(options.out or RESULTS / name, results)
    checks = results["checks"]
    print(
        f"{options.store}: {results['people']} people, {results['elapsed_s']} s: "
        f"{results['labels_written']:,} labels ({results['labels_per_s']}/s), lost "
        f"{results['lost']}, duplicated {results['duplicated']}, double-handed "
        f"{results['double_handed']}, undo mismatches {checks['undo_mismatches']}, human labels "
        f"wrong {checks['human_labels_wrong']}; /api/next p50 {results['p50_ms']} ms, p95 "
        f"{results['p95_ms']} ms (target {TARGET_P95_MS:.0f}), p99 {results['p99_ms']} ms; "
        f"statuses {checks['statuses']}; server exit {results['server'].get('exit_code')}, "
        f"gone {results['server'].get('gone')}"
    )


if __name__ == "__main__":
    main()
