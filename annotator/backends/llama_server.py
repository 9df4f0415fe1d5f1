"""A llama.cpp OpenAI-compatible server that Dissent starts itself, on 127.0.0.1.

The offline default's third tier talks HTTP to a real server, exactly as a production tier
talks to ``vllm serve``: when an ``openai_compatible`` tier has no ``base_url``, Dissent
starts ``python -m llama_cpp.server`` with the tier's GGUF (default: the packaged Gemma 3
270M) on a free local port, waits until it answers, and stops it when the backend is closed
(and, through :mod:`core.children`, whenever this process ends, even by SIGKILL). The server
starts when the tier first grades.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from annotator.backends.base import Answer, Capabilities, EndpointSettings, Pair
from annotator.backends.openai_compatible import OpenAICompatibleBackend
from core.children import guarded_command
from core.errors import DissentError
from prompts import Prompt

__all__ = ["LocalServerBackend", "start_llama_server"]

log = logging.getLogger(__name__)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_llama_server(
    model: Path, *, n_ctx: int = 2048, logits_all: bool = True, timeout_s: float = 120.0
) -> tuple[subprocess.Popen[bytes], str]:
    """Start llama-cpp-python's server for ``model``; returns the process and its /v1 URL.

    ``logits_all`` is what lets the server return logprobs; it also makes the server compute
    the vocabulary logits of every prompt token, which is slow for a large vocabulary.

    Raises:
        DissentError: the server exited or did not answer within ``timeout_s``.
    """
    port = _free_port()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the server writes to it for its lifetime
        prefix="dissent-llama-server-", suffix=".log", delete=False
    )
    # Guarded: the server exits when this process does, even when this process is killed.
    process = subprocess.Popen(
        guarded_command(
            "llama_cpp.server",
            [
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--chat_format",
                "gemma",
                "--n_ctx",
                str(n_ctx),
                "--logits_all",
                "true" if logits_all else "false",
            ],
        ),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                json.load(response)
            log.info("llama.cpp server for %s on %s (log %s)", model.name, url, log_file.name)
            return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                tail = Path(log_file.name).read_text(errors="replace")[-1500:]
                raise DissentError(
                    f"the local llama.cpp server for {model} did not start:\n{tail}"
                ) from None
            time.sleep(0.5)


class LocalServerBackend(Capabilities):
    """An ``openai_compatible`` backend over a llama.cpp server started for it.

    The server starts on the first :meth:`grade` (a run with nothing for this tier to grade
    starts none) and stops on :meth:`close`.
    """

    def __init__(self, tier: EndpointSettings) -> None:
        from annotator.backends.llama_cpp import default_gguf_path

        self._tier = tier
        self._model = Path(tier.model) if tier.model else default_gguf_path()
        self.model_id = f"llama_server:{self._model.name}"
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._client: OpenAICompatibleBackend | None = None

    def _started(self) -> OpenAICompatibleBackend:
        with self._lock:
            if self._client is None:
                self._process, url = start_llama_server(self._model, logits_all=self._tier.logprobs)
                served = self._tier.model_copy(update={"base_url": url, "model": self._model.name})
                self._client = OpenAICompatibleBackend(served)
            return self._client

    def grade(self, pairs: Sequence[Pair], prompt: Prompt) -> list[Answer]:
        if not pairs:
            return []
        return self._started().grade(pairs, prompt)

    def close(self) -> None:
        with self._lock:
            process, self._process, self._client = self._process, None, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
