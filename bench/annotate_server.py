"""Benchmark: ``dissent annotate`` through the OpenAI-compatible backend against a local
llama.cpp server, against the server's raw throughput (issue 12).

On the shipped sample (mined with ``configs/sample.yaml``), a one-tier cascade whose tier is
``openai_compatible`` pointed at ``python -m llama_cpp.server`` serving the packaged Gemma 3
270M (no logprobs, one greedy answer, the offline default's tier-3 settings) is calibrated,
then ``annotate`` grades ``--pairs`` candidates at ``--concurrency`` requests in flight. A plain
asyncio client then sends exactly the requests annotate's model calls sent (same messages,
same parameters, the same number of them, at the same concurrency) and only reads the
answers. Throughput is model calls per second of wall time; ours includes everything
``annotate`` does around the calls (loading calibrations, sampling, work locks, writing
judgments and labels). Writes ``bench/results/annotate-server.json``.

The server answers one request at a time (llama-cpp-python serialises generation), so
concurrency above one hides latency rather than adding throughput; the figure that matters
is the share of the server's throughput that reaches the store.

    python -m bench.annotate_server [--pairs 300] [--concurrency 2]
        [--base-url URL --model NAME]   # any running OpenAI-compatible server instead
        [--scripted-ms 50]              # a scripted server: our client-side cost alone

``--scripted-ms`` serves every request from an in-process scripted server that answers
``{"grade": 1}`` one request at a time after that many milliseconds: a server with no timing
noise, so the share of its throughput annotate reaches measures annotate's own cost per call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from annotator.annotating import annotate
from annotator.backends.base import Pair
from annotator.backends.llama_cpp import default_gguf_path
from annotator.backends.llama_server import start_llama_server
from annotator.backends.openai_compatible import OpenAICompatibleBackend, request_options
from annotator.calibrating import calibrate
from annotator.config import TierConfig
from annotator.pairs import candidate_pairs, with_product_fields
from bench.command import command_line, write_results
from flows.config import load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from prompts import load_prompt
from store.db import open_store
from store.schema import Judgment

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def scripted_server(latency_s: float) -> tuple[ThreadingHTTPServer, str]:
    """An OpenAI-compatible server that answers every chat completion with ``{"grade": 1}``,
    one request at a time, after ``latency_s`` seconds; returns it (serving) and its /v1 URL."""
    serial = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

        def do_POST(self) -> None:
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with serial:
                time.sleep(latency_s)
            answer = {"role": "assistant", "content": '{"grade": 1}'}
            self._send(
                {
                    "id": "scripted",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "scripted",
                    "choices": [
                        {"index": i, "finish_reason": "stop", "message": answer}
                        for i in range(request.get("n", 1))
                    ],
                    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                }
            )

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


async def raw_client(
    url: str, tier: TierConfig, messages: list[list[dict[str, str]]], concurrency: int
) -> tuple[float, int]:
    """Send every request once, ``concurrency`` at a time; (wall seconds, answers received)."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="not-needed", timeout=tier.timeout_s)
    limit = asyncio.Semaphore(concurrency)
    answered = 0

    async def one(chat: list[dict[str, str]]) -> None:
        nonlocal answered
        async with limit:
            response = await client.chat.completions.create(
                messages=chat,  # type: ignore[arg-type]
                **request_options(tier),
            )
            answered += bool(response.choices)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(m) for m in messages))
    finally:
        await client.close()
    return time.perf_counter() - started, answered


def _round(
    engine: Engine, config: Any, run: int, args: argparse.Namespace, url: str, tier: TierConfig
) -> dict[str, Any]:
    """Annotate ``args.pairs`` candidates, then send the same requests with the plain client."""
    with engine.connect() as conn:
        before = conn.execute(select(func.max(Judgment.id))).scalar_one() or 0
    t0 = time.perf_counter()
    report = annotate(engine, config, mining_run=run, limit=args.pairs)
    ours = time.perf_counter() - t0
    with engine.connect() as conn:
        calls = conn.execute(
            select(Judgment.query_id, Judgment.product_id)
            .where(Judgment.id > before)
            .order_by(Judgment.id)
        ).all()
        failed = conn.execute(
            select(func.count())
            .select_from(Judgment)
            .where(Judgment.id > before, Judgment.error.is_not(None))
        ).scalar_one()
    # the same requests: the pairs of annotate's model calls, one request per call
    pairs = {(p.query_id, p.product_id): p for p, _ in candidate_pairs(engine, run)}
    called: list[Pair] = with_product_fields(engine, [pairs[(q, p)] for q, p in calls])
    backend, prompt = OpenAICompatibleBackend(tier), load_prompt()
    messages = [backend.messages(p, prompt) for p in called]
    raw, answered = asyncio.run(raw_client(url, tier, messages, args.concurrency))
    print(f"round: annotate {len(calls)} calls in {ours:.1f} s, raw {answered} in {raw:.1f} s")
    return {
        "pairs": report.pairs,
        "model_calls": len(calls),
        "failed_calls": failed,
        "ours_seconds": ours,
        "answered": answered,
        "raw_seconds": raw,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=300, help="candidates annotate grades")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=2, help="annotate, then raw, this often")
    parser.add_argument("--output", type=Path, default=RESULTS / "annotate-server.json")
    parser.add_argument("--base-url", help="a running server's /v1 URL (default: start one)")
    parser.add_argument("--model", help="the served model's name (with --base-url)")
    parser.add_argument("--scripted-ms", type=float, help="use a scripted server (latency ms)")
    args = parser.parse_args()
    process, scripted = None, None
    if args.scripted_ms is not None:
        scripted, url = scripted_server(args.scripted_ms / 1000)
        model = f"scripted ({args.scripted_ms:g} ms a request, one at a time)"
    elif args.base_url:
        url, model = args.base_url, args.model or "model"
    else:
        gguf = default_gguf_path()
        process, url = start_llama_server(gguf, logits_all=False)
        model = gguf.name
    result: dict[str, Any] = {
        "command": command_line("bench.annotate_server"),
        "cores": os.cpu_count(),
        "model": model,
        "concurrency": args.concurrency,
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tier = TierConfig(
                name="server",
                backend="openai_compatible",
                base_url=url,
                model=model,
                structured_output="json_object_schema",
                system_role=False,
                logprobs=False,
                samples=1,
                max_concurrency=args.concurrency,
                max_eval_pairs=60,
            )
            config = load_config(
                ROOT / "configs/sample.yaml",
                environ={"DISSENT_STORE__URL": f"sqlite:///{tmp}/store.db", "DISSENT_WORKDIR": tmp},
            )
            config.annotation.tiers = [tier]
            config.annotation.random_pairs = 20
            config.annotation.injection_pairs = 5
            engine = open_store(config.store_url)
            ingest_dataset(engine, load_mapping(ROOT / "sample/mapping.yaml"))
            run = mine(engine, config).run_id
            t0 = time.perf_counter()
            calibrate(engine, config, enforce_gate=False)
            result["calibrate_seconds"] = round(time.perf_counter() - t0, 1)

            # Each round grades the same candidates from the same calibrated store (a copy
            # taken now), then replays them with the plain client; with two rounds or more a
            # server that warms up or drifts meets each of the two both early and late.
            store = Path(tmp) / "store.db"
            engine.dispose()
            shutil.copy(store, Path(tmp) / "calibrated.db")
            rounds = []
            for _ in range(args.rounds):
                engine.dispose()
                for journal in (Path(f"{store}-wal"), Path(f"{store}-shm")):
                    journal.unlink(missing_ok=True)
                shutil.copy(Path(tmp) / "calibrated.db", store)
                rounds.append(_round(engine, config, run, args, url, tier))
    finally:
        if scripted is not None:
            scripted.shutdown()
            scripted.server_close()
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
    assert process is None or process.poll() is not None, "the llama.cpp server still runs"
    calls = sum(r["model_calls"] for r in rounds)
    answered = sum(r["answered"] for r in rounds)
    if not calls or not answered:
        print(f"nothing to compare: {calls} model calls, {answered} raw answers")
        return 1
    ours = sum(r["ours_seconds"] for r in rounds)
    raw = sum(r["raw_seconds"] for r in rounds)
    ours_rate, raw_rate = calls / ours, answered / raw
    result.update(
        {
            "pairs": rounds[0]["pairs"],
            "rounds": len(rounds),
            "model_calls": calls,
            "failed_calls": sum(r["failed_calls"] for r in rounds),
            "ours": {"seconds": round(ours, 2), "calls_per_second": round(ours_rate, 3)},
            "raw": {"seconds": round(raw, 2), "calls_per_second": round(raw_rate, 3)},
            "share_of_raw": round(ours_rate / raw_rate, 3),
            "share_of_raw_per_round": [
                round(r["model_calls"] / r["ours_seconds"] / (r["answered"] / r["raw_seconds"]), 3)
                for r in rounds
            ],
        }
    )
    write_results(args.output, result)
    print(
        f"annotate: {calls} model calls in {ours:.1f} s ({ours_rate:.2f}/s); raw client: "
        f"{answered} requests in {raw:.1f} s ({raw_rate:.2f}/s); annotate reaches "
        f"{ours_rate / raw_rate:.1%} of the server's throughput (target >= 90%)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
