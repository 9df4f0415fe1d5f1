"""The OpenAI-compatible backend against a real HTTP server that misbehaves on a seeded schedule.

Each pair's first request meets one fault (drawn for the pair by a seeded shuffle, every fault
equally often); its second request is answered properly, except for the pairs whose fault is
``always``. Every pair must end graded on its second attempt or failed with its reason; none
gets a grade from a broken answer, and the batch never crashes.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from annotator.backends.base import Pair
from annotator.backends.openai_compatible import OpenAICompatibleBackend
from annotator.config import TierConfig
from prompts import load_prompt

TIMEOUT_S = 3.0  # generous: a loaded 2-core machine answers the retry in time
FAULTS = (
    "429",  # with Retry-After
    "500",
    "503",
    "hang",  # answers after the client's timeout
    "close_mid_body",  # Content-Length promises more than is sent
    "malformed_json",  # HTTP 200, a body that is not JSON
    "truncated_json",  # HTTP 200, the JSON cut short
    "grade_7",  # a well-formed completion whose grade is outside 0-3
    "empty_choices",
    "wrong_content_type",  # text/html
    "endless_stream",  # headers, then a byte now and then, forever
    "always",  # 500 on every request
)
PER_FAULT = 2


def completion(content: str, choices: int = 1) -> dict[str, Any]:
    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {
                "index": i,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
            for i in range(choices)
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
    }


class Faulty(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    schedule: dict[str, str] = {}  # query -> fault
    seen: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        query = body["messages"][-1]["content"].split("Query: ")[1].split("\n")[0]
        with self.lock:
            self.seen[query] += 1
            attempt = self.seen[query]
        fault = self.schedule[query]
        if attempt > 1 and fault != "always":
            self._json(200, completion('{"grade": 2}'))
            return
        if fault in ("429", "500", "503", "always"):
            status = 500 if fault == "always" else int(fault)
            headers = {"Retry-After": "0"} if fault == "429" else {}
            self._json(status, {"error": {"message": fault}}, headers)
        elif fault == "hang":
            self.stop.wait(TIMEOUT_S * 3)
            self._json(200, completion('{"grade": 3}'))  # too late: the client gave up
        elif fault == "close_mid_body":
            self._raw(200, b'{"id": "x", "choices": [', "application/json", length=500)
        elif fault == "malformed_json":
            self._raw(200, b"<<not json>>", "application/json")
        elif fault == "truncated_json":
            self._raw(200, json.dumps(completion('{"grade": 3}')).encode()[:40], "application/json")
        elif fault == "grade_7":
            self._json(200, completion('{"grade": 7}'))
        elif fault == "empty_choices":
            self._json(200, completion('{"grade": 3}', choices=0))
        elif fault == "wrong_content_type":
            self._raw(200, b"<html><body>gateway error</body></html>", "text/html")
        elif fault == "endless_stream":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            while not self.stop.is_set():  # a byte every 0.2 s: no read ever times out
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                self.stop.wait(0.2)

    def _json(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self._raw(status, json.dumps(payload).encode(), "application/json", headers=headers)

    def _raw(
        self,
        status: int,
        data: bytes,
        content_type: str,
        *,
        length: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length if length is not None else len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
        if length is not None:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def faulty_server() -> Iterator[str]:
    Faulty.stop.clear()
    Faulty.seen.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Faulty)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    Faulty.stop.set()
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_every_fault_ends_graded_by_a_retry_or_failed_with_its_reason(faulty_server: str) -> None:
    faults = [f for f in FAULTS for _ in range(PER_FAULT)]
    random.Random(7).shuffle(faults)
    pairs = [
        Pair(i, 100 + i, f"h{i}", f"query {i}", {"title": f"Product {i}"})
        for i in range(len(faults))
    ]
    Faulty.schedule = {p.query: f for p, f in zip(pairs, faults, strict=True)}
    tier = TierConfig(
        name="faulty",
        backend="openai_compatible",
        base_url=faulty_server,
        model="m",
        timeout_s=TIMEOUT_S,
        max_retries=1,  # two attempts: the fault, then the proper answer
        max_concurrency=8,
        logprobs=False,
        samples=1,
    )
    started = time.perf_counter()
    answers = OpenAICompatibleBackend(tier).grade(pairs, load_prompt())
    elapsed = time.perf_counter() - started

    outcomes: Counter[tuple[str, str]] = Counter()
    for fault, answer in zip(faults, answers, strict=True):
        if answer.ok:
            assert answer.grade == 2 and answer.extra["attempts"] == 2, fault  # the retry's
            outcomes[fault, "graded on retry"] += 1
        else:
            assert answer.grade is None and answer.distribution is None, fault
            assert "InternalServerError" in (answer.error or ""), fault  # the reason, recorded
            outcomes[fault, "failed"] += 1
    expected = {(f, "graded on retry"): PER_FAULT for f in FAULTS if f != "always"}
    expected["always", "failed"] = PER_FAULT
    assert outcomes == expected
    # every pair was asked twice: the fault and the retry
    assert sorted(Faulty.seen.values()) == [2] * len(pairs)
    # slow faults are cut at the request's timeout, not left to run
    assert elapsed < 30, elapsed
