"""Failed model calls through the annotate flow: retried, recorded, never a default grade.

The tier is an OpenAI-compatible backend talking, with the real ``openai`` client, to a real
HTTP server on 127.0.0.1 that fails every prompt's first two requests with HTTP 500 and
answers prose instead of JSON for every HDX product. The backend tries twice per attempt and
the cascade makes two attempts, so each pair's first attempt is recorded as a failed judgment
and its second succeeds; the HDX pairs fail every attempt and are recorded as failed labels
with the model's raw text.
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from annotator.calibrating import calibrate
from annotator.config import TierConfig
from flows.annotate import annotate
from flows.config import PipelineConfig, load_config
from ingest import ingest_dataset
from ingest.mapping import load_mapping
from miners.mine import mine
from store.db import open_store
from store.schema import Judgment, Label
from tests.conftest import ROOT, SAMPLE

pytestmark = pytest.mark.slow


class FlakyGrader(BaseHTTPRequestHandler):
    seen: Counter[str] = Counter()
    keys: set[str] = set()  # the Authorization headers it was sent
    lock = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.keys.add(self.headers.get("Authorization", ""))
        content = body["messages"][-1]["content"]
        with self.lock:
            self.seen[content] += 1
            count = self.seen[content]
        if count <= 2:
            self._send(500, {"error": {"message": "overloaded", "type": "server_error"}})
            return
        query = re.search(r"Query: (.*)", content)
        title = re.search(r"Title: (.*)", content)
        assert query and title
        if "HDX" in title.group(1):
            answer = "This product looks fine to me."
        else:
            words = {w for w in query.group(1).lower().split() if len(w) > 3}
            answer = json.dumps({"grade": 3 if words & set(title.group(1).lower().split()) else 0})
        self._send(
            200,
            {
                "id": "cmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 50, "completion_tokens": 6, "total_tokens": 56},
            },
        )

    def _send(self, status: int, payload: dict[str, object]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FlakyGrader)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


SECRET = "sk-test-9f8e7d6c5b4a"  # an API key: sent to the server, stored and printed nowhere


def test_failed_calls_are_retried_and_recorded(
    harness: None,
    server: str,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("FLAKY_GRADER_API_KEY", SECRET)
    workdir: Path = tmp_path_factory.mktemp("retries")
    cfg: PipelineConfig = load_config(ROOT / "configs" / "sample.yaml", environ={})
    cfg.workdir = workdir
    cfg.store.url = f"sqlite:///{workdir / 'store.db'}"
    cfg.annotation.tiers = [
        TierConfig(
            name="flaky",
            backend="openai_compatible",
            base_url=server,
            api_key_env="FLAKY_GRADER_API_KEY",
            model="flaky-grader",
            structured_output="none",
            logprobs=False,
            samples=1,
            max_retries=1,
            max_eval_pairs=20,
        )
    ]
    cfg.annotation.injection_pairs = 0
    cfg.annotation.max_random_relevant = 1.0  # retries are the point, not label quality
    cfg.flows.queries_per_batch = 2
    engine = open_store(cfg.store_url)
    ingest_dataset(engine, load_mapping(SAMPLE / "mapping.yaml"))
    mine(engine, cfg, query_limit=6)
    calibrate(engine, cfg, workdir / "report")

    summary = annotate(cfg, max_queries=6)
    assert summary["pairs"] > 0
    with Session(engine) as session:
        judgments = session.scalars(select(Judgment)).all()
        labels = session.scalars(select(Label)).all()
    by_pair: dict[tuple[int, str], list[Judgment]] = {}
    for j in judgments:
        by_pair.setdefault((j.query_id, j.product_hash), []).append(j)
    graded = [label for label in labels if label.status == "graded"]
    failed = [label for label in labels if label.status == "failed"]
    assert graded and failed
    decided: dict[int, set[int]] = {}
    for label in graded:
        attempts = sorted(by_pair[label.query_id, label.product_hash], key=lambda j: j.attempt)
        assert [j.attempt for j in attempts] == [1, 2]
        assert attempts[0].grade is None and "InternalServerError" in (attempts[0].error or "")
        assert attempts[1].error is None and attempts[1].grade is not None
        assert label.grade is not None
        decided.setdefault(attempts[1].grade, set()).add(label.grade)
    # the label is the calibrated decision on the model's grade: one raw grade, one label grade
    assert all(len(grades) == 1 for grades in decided.values()), decided
    for label in failed:
        assert label.grade is None  # never a default grade
        attempts = by_pair[label.query_id, label.product_hash]
        assert all(j.grade is None for j in attempts)
        assert any("unparseable" in (j.error or "") for j in attempts)
        assert any("looks fine" in (j.raw_response or "") for j in attempts)
    assert summary["failed"] == len(failed)
    _assert_the_key_was_used_and_kept_nowhere(workdir, caplog.text)


def _assert_the_key_was_used_and_kept_nowhere(workdir: Path, logs: str) -> None:
    """The key reached the server, and no file of the run nor its log holds it: the store, the
    report, Prefect's database (flow runs, parameters, artifacts)."""
    from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

    assert FlakyGrader.keys == {f"Bearer {SECRET}"}
    prefect_db = Path(PREFECT_API_DATABASE_CONNECTION_URL.value().split("///")[-1])
    files = [p for p in workdir.rglob("*") if p.is_file()]
    prefect_files = [p for p in prefect_db.parent.glob(prefect_db.name + "*") if p.is_file()]
    assert prefect_files, f"Prefect's database not found at {prefect_db}"
    files += prefect_files
    assert (workdir / "store.db").exists() and len(files) > 3
    for path in files:
        assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in logs
