"""The OpenAI-compatible backend against real HTTP servers.

- a real llama.cpp OpenAI-compatible server (llama-cpp-python) with the packaged Gemma model;
- a small real HTTP server on 127.0.0.1 that answers with scripted status codes and bodies, to
  test back-off retries, non-retryable errors, unparseable answers and sampling without
  logprobs, which a healthy llama.cpp server never produces on demand.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from annotator.backends.openai_compatible import OpenAICompatibleBackend
from annotator.config import TierConfig
from core.errors import ConfigError
from prompts import load_prompt
from tests.annotator.conftest import PAIRS


def tier(base_url: str, **kwargs: Any) -> TierConfig:
    settings: dict[str, Any] = {
        "name": "t",
        "backend": "openai_compatible",
        "base_url": base_url,
        "model": "m",
        "timeout_s": 20,
        **kwargs,
    }
    return TierConfig(**settings)


@pytest.mark.slow
def test_real_llama_cpp_server_with_logprobs(llama_server: str) -> None:
    backend = OpenAICompatibleBackend(
        tier(
            llama_server,
            model="gemma",
            structured_output="json_object_schema",
            system_role=False,
            max_concurrency=2,
        )
    )
    answers = backend.grade(PAIRS, load_prompt())
    for answer in answers:
        assert answer.ok, answer.error
        assert answer.distribution is not None and sum(answer.distribution) == pytest.approx(1.0)
        assert json.loads(answer.raw or "")["grade"] == answer.grade
        assert answer.tokens_in > 100 and answer.tokens_out > 0


@pytest.mark.slow
def test_real_llama_cpp_server_rejects_json_schema_and_it_is_recorded(llama_server: str) -> None:
    # llama-cpp-python's server answers HTTP 500 to response_format json_schema: the failure
    # is retried (5xx), then recorded with its reason, never turned into a grade.
    backend = OpenAICompatibleBackend(
        tier(llama_server, model="gemma", structured_output="json_schema", max_retries=1)
    )
    answer = backend.grade(PAIRS[:1], load_prompt())[0]
    assert not answer.ok and answer.grade is None
    assert "InternalServerError" in (answer.error or "") or "HTTP" in (answer.error or "")


# --------------------------------------------------------------------- scripted HTTP server


def completion(
    content: str, logprobs: bool = True, n: int = 1, grade_probs: dict[str, float] | None = None
) -> dict[str, Any]:
    import math

    def choice(i: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": i,
            "finish_reason": "stop",
            "message": {"role": "assistant", "content": content},
        }
        if logprobs:
            tokens = ['{"', "grade", '":', " ", content.strip()[-2], "}"]
            probs = grade_probs or {content.strip()[-2]: 0.9}
            body["logprobs"] = {
                "content": [
                    {
                        "token": t,
                        "logprob": -0.01,
                        "bytes": None,
                        "top_logprobs": [
                            {"token": k, "logprob": math.log(v), "bytes": None}
                            for k, v in probs.items()
                        ]
                        if t.isdigit()
                        else [],
                    }
                    for t in tokens
                ]
            }
        return body

    return {
        "id": "x",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [choice(i) for i in range(n)],
        "usage": {"prompt_tokens": 100, "completion_tokens": 6, "total_tokens": 106},
    }


class Script:
    def __init__(self, responses: list[tuple[int, dict[str, Any]]]) -> None:
        self.responses = responses
        self.requests: list[dict[str, Any]] = []
        self.delay_s = 0.0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()


@pytest.fixture
def scripted_server() -> Iterator[tuple[str, Script]]:
    script = Script([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with script.lock:
                script.requests.append(body)
                script.in_flight += 1
                script.max_in_flight = max(script.max_in_flight, script.in_flight)
                status, payload = (
                    script.responses.pop(0)
                    if script.responses
                    else (500, {"error": {"message": "script exhausted"}})
                )
            time.sleep(script.delay_s)
            with script.lock:
                script.in_flight -= 1
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", script
    server.shutdown()


def test_429_and_5xx_are_retried_with_backoff(scripted_server: tuple[str, Script]) -> None:
    url, script = scripted_server
    script.responses = [
        (429, {"error": {"message": "slow down"}}),
        (503, {"error": {"message": "busy"}}),
        (200, completion('{"grade": 2}', grade_probs={"2": 0.7, "3": 0.2, "1": 0.1})),
    ]
    answer = OpenAICompatibleBackend(tier(url, max_retries=3)).grade(PAIRS[:1], load_prompt())[0]
    assert answer.ok and answer.grade == 2 and answer.extra["attempts"] == 3
    assert answer.distribution == pytest.approx([1e-6, 0.1, 0.7, 0.2], abs=1e-4)
    assert len(script.requests) == 3
    request = script.requests[0]
    assert request["logprobs"] is True and request["temperature"] == 0.0
    assert request["response_format"]["type"] == "json_schema"
    assert request["messages"][0]["role"] == "system"


def test_vllm_structured_outputs_go_in_the_body(scripted_server: tuple[str, Script]) -> None:
    url, script = scripted_server
    script.responses = [(200, completion('{"grade": 1}'))]
    OpenAICompatibleBackend(tier(url, structured_output="vllm")).grade(PAIRS[:1], load_prompt())
    assert script.requests[0]["structured_outputs"]["json"]["required"] == ["grade"]
    assert "response_format" not in script.requests[0] and "guided_json" not in script.requests[0]


def test_client_errors_are_not_retried(scripted_server: tuple[str, Script]) -> None:
    url, script = scripted_server
    script.responses = [(400, {"error": {"message": "bad model"}})]
    answer = OpenAICompatibleBackend(tier(url, max_retries=3)).grade(PAIRS[:1], load_prompt())[0]
    assert not answer.ok and answer.error is not None and answer.error.startswith("HTTP 400")
    assert len(script.requests) == 1


def test_unparseable_answers_are_retried_then_recorded(scripted_server: tuple[str, Script]) -> None:
    url, script = scripted_server
    script.responses = [(200, completion("I think it is a 3", logprobs=False))] * 3
    answer = OpenAICompatibleBackend(tier(url, max_retries=2)).grade(PAIRS[:1], load_prompt())[0]
    assert not answer.ok and answer.grade is None
    assert answer.raw == "I think it is a 3"
    assert "unparseable answer" in (answer.error or "")
    assert len(script.requests) == 3


def test_without_logprobs_it_samples(scripted_server: tuple[str, Script]) -> None:
    url, script = scripted_server
    sampled = completion('{"grade": 3}', logprobs=False, n=4)
    sampled["choices"][1]["message"]["content"] = '{"grade": 2}'
    sampled["choices"][2]["message"]["content"] = "garbage"
    script.responses = [(200, completion('{"grade": 3}', logprobs=False)), (200, sampled)]
    answer = OpenAICompatibleBackend(tier(url, samples=4)).grade(PAIRS[:1], load_prompt())[0]
    assert answer.ok and answer.grade == 3
    assert answer.distribution == pytest.approx([0.5 / 5, 0.5 / 5, 1.5 / 5, 2.5 / 5])
    assert script.requests[1]["n"] == 4 and script.requests[1]["temperature"] == 1.0
    assert answer.tokens_in == 200  # both requests counted


def test_concurrency_is_bounded(scripted_server: tuple[str, Script]) -> None:
    url, script = scripted_server
    script.responses = [(200, completion('{"grade": 0}'))] * 6
    script.delay_s = 0.2
    answers = OpenAICompatibleBackend(tier(url, max_concurrency=2)).grade(PAIRS * 2, load_prompt())
    assert [a.grade for a in answers] == [0] * 6
    assert script.max_in_flight == 2


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="needs base_url"):
        OpenAICompatibleBackend(TierConfig(name="t", backend="openai_compatible", model="m"))
    with pytest.raises(ConfigError, match="NO_SUCH_KEY_FOR_DISSENT_TESTS is not set"):
        OpenAICompatibleBackend(
            TierConfig(
                name="t",
                backend="openai_compatible",
                model="m",
                api_key_env="NO_SUCH_KEY_FOR_DISSENT_TESTS",
            )
        )


@pytest.mark.slow
def test_local_server_without_logprobs_answers_greedily(gemma_path: Any) -> None:
    from annotator.backends.llama_server import LocalServerBackend

    backend = LocalServerBackend(
        TierConfig(
            name="local",
            backend="openai_compatible",
            model=str(gemma_path),
            structured_output="json_object_schema",
            system_role=False,
            logprobs=False,
            samples=1,
        )
    )
    try:
        answers = backend.grade(PAIRS, load_prompt())
    finally:
        backend.close()
    for answer in answers:
        assert answer.ok, answer.error
        assert sorted(answer.distribution or []) == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])
        assert json.loads(answer.raw or "")["grade"] == answer.grade
    assert backend.model_id == "llama_server:gemma-3-270m-q4_k_m.gguf"
