"""The README's Prefect-server recipe, run for real: server, work pool, deploy, worker, run.

``prefect server start`` on a free port with its own ``PREFECT_HOME``; ``prefect work-pool
create``; ``prefect deploy --all`` from the repository root (``prefect.yaml``, with
``DISSENT_HOME`` set); ``prefect worker start``; ``prefect deployment run`` of the pipeline on
the sample. The worker runs in a directory of its own, so the run's relative ``mapping`` is
found only through the deployment's pull step. The cascade is the cross-encoder alone, trained
for one epoch: the test takes one to two minutes on an idle 2-core machine. The run must
complete, fill the store and publish every flow's artifact; every process started here
(server, worker, the flow run they spawn) is stopped, and checked gone, at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.db import open_store
from store.schema import Candidate, CurriculumExample, HumanLabel, Label, Product, Query
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ARTIFACTS = {
    "ingest-report",
    "mine-report",
    "calibration-report",
    "annotate-report",
    "curriculum-report",
    "export-report",
    "pipeline-report",
}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT_S = 300


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Processes:
    """Long-running processes, each the leader of its own process group, and the CLI.

    Every process gets ``env``, whose ``PREFECT_HOME`` (a fresh directory) marks it and
    whatever it spawns, in its own process group or not.
    """

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []
        self.seen: dict[int, psutil.Process] = {}

    def start(self, name: str, *args: str, cwd: Path) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "prefect", *args],
            cwd=cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(proc)
        self.watch()
        return proc

    def cli(self, *args: str, cwd: Path, timeout: float = 120) -> str:
        """Run ``prefect ARGS`` (in its own session too) and return its output; fail on error."""
        try:
            done = subprocess.run(
                [sys.executable, "-m", "prefect", "--no-prompt", *args],
                cwd=cwd,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"prefect {' '.join(args)}: no answer in {timeout} s: {exc.output!r}")
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def watch(self) -> None:
        """Remember every descendant alive now (the flow run's process among them)."""
        for proc in self.started:
            with contextlib.suppress(psutil.Error):
                parent = psutil.Process(proc.pid)
                for p in [parent, *parent.children(recursive=True)]:
                    self.seen.setdefault(p.pid, p)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def ours(self) -> list[psutil.Process]:
        """Processes alive that were started here: seen as descendants, in one of the process
        groups started here, or carrying this test's ``PREFECT_HOME``."""
        groups = {proc.pid for proc in self.started}
        found = {pid: p for pid, p in self.seen.items() if _alive(p)}
        for p in psutil.process_iter():
            if p.pid in found or p.pid == os.getpid():
                continue
            with contextlib.suppress(psutil.Error):
                if (os.getpgid(p.pid) in groups and _alive(p)) or (
                    p.environ().get("PREFECT_HOME") == self.env["PREFECT_HOME"] and _alive(p)
                ):
                    found[p.pid] = p
        return list(found.values())

    def stop(self, grace_s: float = 20) -> list[str]:
        """SIGTERM every group (and stray descendant), SIGKILL what is left after ``grace_s``;
        return a description of each process still alive after that (none expected)."""
        self.watch()
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            for proc in self.started:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
            for p in self.ours():
                with contextlib.suppress(psutil.Error):
                    p.send_signal(sig)
            if self._gone_within(wait_s):
                break
        left = []
        for p in self.ours():
            with contextlib.suppress(psutil.Error):
                left.append(f"{p.pid} {' '.join(p.cmdline())}")
        return left

    def _gone_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while True:
            for proc in self.started:  # reap the direct children
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=0.1)
            if not self.ours():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    home = tmp_path / "prefect-home"
    home.mkdir()
    (tmp_path / "logs").mkdir()
    # Only this test's Prefect settings; no DISSENT_* config overrides from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DISSENT_"))}
    env |= {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_WORKER_QUERY_SECONDS": "2",
    }
    procs = Processes(env, tmp_path / "logs")
    try:
        yield procs
    finally:
        left = procs.stop()
        assert not left, f"processes still running after the test: {left}"


def _api(url: str, body: dict[str, Any] | None = None) -> Any:
    """GET ``url`` (POST ``body`` as JSON when given) and return the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_healthy(api: str, procs: Processes, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        server = procs.started[0]
        assert server.poll() is None, f"prefect server exited:\n{procs.log('server')}"
        with contextlib.suppress(OSError, ValueError):
            if _api(f"{api}/health") is True:
                return
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {timeout_s} s:\n{procs.log('server')}")


def _count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _config(tmp_path: Path) -> tuple[Path, Path]:
    """The sample config, cut to the cross-encoder tier trained for one epoch."""
    workdir = tmp_path / "work"
    data = yaml.safe_load((ROOT / "configs" / "sample.yaml").read_text())
    data["workdir"] = str(workdir)
    annotation = data.setdefault("annotation", {})
    annotation["tiers"] = [{"name": "cross-encoder", "backend": "cross_encoder"}]
    annotation["tier1_training"]["epochs"] = 1
    annotation["max_random_relevant"] = 1.0  # one epoch: the deployment is the point
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, workdir


def test_the_pipeline_deployment_runs_on_a_prefect_server(
    processes: Processes, tmp_path: Path
) -> None:
    started = time.monotonic()
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    processes.env["PREFECT_API_URL"] = api
    config, workdir = _config(tmp_path)
    elsewhere = tmp_path / "worker-cwd"  # the worker does not start in the repository
    elsewhere.mkdir()
    prefect_yaml = (ROOT / "prefect.yaml").read_bytes()

    processes.start(
        "server", "server", "start", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path
    )
    _wait_healthy(api, processes)
    processes.cli("work-pool", "create", "dissent", "--type", "process", cwd=tmp_path)
    processes.env["DISSENT_HOME"] = str(ROOT)
    deployed = processes.cli("deploy", "--all", cwd=ROOT, timeout=180)
    del processes.env["DISSENT_HOME"]  # the worker needs none: the pull step holds the path
    assert (ROOT / "prefect.yaml").read_bytes() == prefect_yaml, "prefect deploy edited it"
    listed = processes.cli("deployment", "ls", cwd=tmp_path)
    for name in ("dissent-pipeline", "dissent-ingest", "dissent-export"):
        assert name in listed, deployed
    processes.start("worker", "worker", "start", "--pool", "dissent", cwd=elsewhere)

    out = processes.cli(
        "deployment",
        "run",
        "pipeline/dissent-pipeline",
        "--param",
        f"config={config}",
        "--param",
        "mapping=sample/mapping.yaml",  # relative: found only in the pull step's directory
        cwd=tmp_path,
    )
    run_id = next(line.split()[-1] for line in out.splitlines() if "UUID:" in line)

    # Polled through the REST API: a CLI call every few seconds would take a core from the run.
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        processes.watch()
        assert processes.started[1].poll() is None, f"worker exited:\n{processes.log('worker')}"
        if _api(f"{api}/flow_runs/{run_id}")["state"]["type"] in TERMINAL:
            break
        time.sleep(2)
    run = json.loads(processes.cli("flow-run", "inspect", run_id, "-o", "json", cwd=tmp_path))
    state = run["state"]["type"]
    assert state == "COMPLETED", f"flow run {run_id} ended {state}:\n{processes.log('worker')}"

    engine = open_store(f"sqlite:///{workdir / 'dissent.db'}")
    try:
        with Session(engine) as session:
            assert _count(session, Product) == 296
            assert _count(session, Query) == 40
            assert _count(session, HumanLabel) == 394
            assert _count(session, Candidate) > 0
            assert _count(session, Label) > 0
            assert _count(session, CurriculumExample) > 0
    finally:
        engine.dispose()

    artifacts = json.loads(processes.cli("artifact", "ls", "-o", "json", cwd=tmp_path))
    by_key = {a["key"]: a for a in artifacts}
    assert by_key.keys() >= ARTIFACTS, sorted(by_key)
    assert by_key["pipeline-report"]["flow_run_id"] == run_id
    subflows = _api(
        f"{api}/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}}
    )
    assert {f["state"]["type"] for f in subflows} == {"COMPLETED"}
    # The other reports are published by the pipeline's subflows (ingest, mine, ...).
    assert {by_key[key]["flow_run_id"] for key in ARTIFACTS - {"pipeline-report"}} <= {
        f["id"] for f in subflows
    }

    left = processes.stop()
    assert not left, f"processes still running after stop: {left}"
    with pytest.raises(OSError):
        _api(f"{api}/health")
    print(f"deployment test: {time.monotonic() - started:.0f} s")
