"""Refusals a user meets at the command line: bad paths, bad stores, bad arguments, secrets.

Each case is one clear line and exit 1 (or a usage error, exit 2), never a traceback; nothing
the user typed as a secret appears in the output.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.engine import make_url

from store.schema import Run
from tests.conftest import SAMPLE, _truncate
from tests.flows.test_cli import error_line, run

SECRET = "s3cret-Pa55"


def test_a_config_that_is_a_directory_or_not_utf8_is_one_line(tmp_path: Path) -> None:
    line = error_line(run("config", "show", "--config", str(tmp_path)))
    assert line == f"error: config file {tmp_path} is a directory; give a YAML file"
    latin = tmp_path / "c.yaml"
    latin.write_bytes("workdir: caf\xe9\n".encode("latin-1"))
    line = error_line(run("config", "show", "--config", str(latin)))
    assert line == f"error: config file {latin} is not UTF-8 text (byte 12); save it as UTF-8"


def test_a_mapping_that_is_a_directory_or_not_utf8_is_one_line(tmp_path: Path) -> None:
    env = {"DISSENT_STORE__URL": f"sqlite:///{tmp_path / 's.db'}"}
    line = error_line(run("ingest", "all", "--mapping", str(tmp_path), env=env))
    assert line == f"error: mapping file {tmp_path} is a directory; give a YAML file"
    latin = tmp_path / "m.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    line = error_line(run("ingest", "all", "--mapping", str(latin), env=env))
    assert "is not UTF-8 text" in line


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////dev/null/x.db", "cannot create the folder of SQLite store /dev/null/x.db"),
        ("sqlite:///{tmp}", "is a directory; give a file path in store.url"),
        ("sqlite:///{tmp}/junk.db", "cannot open the store at sqlite:///"),
    ],
)
def test_a_store_that_cannot_be_a_database_is_one_line(
    tmp_path: Path, url: str, expected: str
) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not a SQLite database file" * 100)
    before = (tmp_path / "junk.db").read_bytes()
    line = error_line(run("status", env={"DISSENT_STORE__URL": url.format(tmp=tmp_path)}))
    assert expected in line
    assert (tmp_path / "junk.db").read_bytes() == before  # nothing written
    if "junk" in url:
        assert "file is not a database" in line


def test_config_show_and_errors_never_print_the_store_password() -> None:
    url = f"postgresql+psycopg://dissent:{SECRET}@127.0.0.1:1/dissent"  # port 1: refused
    shown = run("config", "show", env={"DISSENT_STORE__URL": url})
    assert shown.exit_code == 0, shown.stderr
    assert SECRET not in shown.output
    assert yaml.safe_load(shown.stdout)["store"]["url"] == url.replace(SECRET, "***")
    line = error_line(run("status", env={"DISSENT_STORE__URL": url}))
    assert "cannot open the store at postgresql+psycopg://dissent:***@127.0.0.1:1" in line
    assert SECRET not in line


def test_ingest_and_status_print_the_store_url_without_its_password(
    postgres_url: str, _postgres_engine: Engine
) -> None:
    # the shared database may hold rows other tests inserted with explicit ids, which the
    # sequences do not know: start from an empty store
    _truncate(_postgres_engine)
    # trust authentication ignores the password; the user still must not see it echoed
    url = make_url(postgres_url).set(password=SECRET).render_as_string(hide_password=False)
    env = {"DISSENT_STORE__URL": url}
    done = run("ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"), env=env)
    assert done.exit_code == 0, done.stderr
    status = run("status", env=env)
    assert status.exit_code == 0, status.stderr
    for output in (done.output, status.output):
        assert SECRET not in output and ":***@" in output


def test_an_api_key_in_place_of_its_variable_name_is_refused_without_echo(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    key = "sk-proj-" + SECRET
    tier = {"name": "llm", "backend": "openai_compatible", "model": "m", "api_key_env": key}
    config.write_text(yaml.safe_dump({"annotation": {"tiers": [tier]}}))
    line = error_line(run("config", "show", "--config", str(config)))
    assert "'annotation.tiers.0.api_key_env'" in line and "the value is not shown" in line
    assert SECRET not in line


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers (a hung PostgreSQL)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for conn in held:
        conn.close()
    listener.close()
    assert not thread.is_alive()


def test_a_postgres_server_that_never_answers_times_out_in_one_line(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("store.db.CONNECT_TIMEOUT_S", 2)  # libpq's smallest timeout
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/test"
    line = error_line(run("status", env={"DISSENT_STORE__URL": url}))
    assert (
        f"cannot open the store at postgresql+psycopg://postgres@127.0.0.1:{silent_server}" in line
    )
    assert "timeout" in line.lower()


def test_annotate_refuses_an_unknown_run_or_set_and_a_bad_limit(tmp_path: Path) -> None:
    env = {
        "DISSENT_STORE__URL": f"sqlite:///{tmp_path / 's.db'}",
        "DISSENT_WORKDIR": str(tmp_path / "work"),
    }
    assert run("ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"), env=env).exit_code == 0
    line = error_line(run("annotate", "--set", "bogus", env=env))
    assert "unknown disagreement set 'bogus'; the sets are easy_positive, hard_positive" in line
    assert "run 99 is not a mine run in the store" in error_line(
        run("annotate", "--run", "99", env=env)
    )
    for args in (["annotate", "--limit", "0"], ["mine", "--limit", "-3"]):
        done = run(*args, env=env)
        assert done.exit_code == 2 and "greater than or equal to 1" in done.stderr, args


def _runs(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Run)).scalar_one())
    finally:
        engine.dispose()


def test_a_refused_command_writes_no_run_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    env = {"DISSENT_STORE__URL": url, "DISSENT_WORKDIR": str(tmp_path / "work")}
    commands = [
        ["mine"],
        ["annotate"],
        ["annotate", "train-tier1"],
        ["calibrate"],
        ["curriculum", "build"],
        ["export"],
        ["evaluate"],
    ]
    for command in commands:  # a fresh store: nothing to work on
        error_line(run(*command, env=env))
        assert _runs(url) == 0, command
    # labels but no tier-1 model: calibrate is refused before it records a run
    assert run("ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml"), env=env).exit_code == 0
    before = _runs(url)
    assert "train tier 1 first" in error_line(run("calibrate", env=env))
    assert _runs(url) == before
