"""The review page in a real browser: ``dissent review`` serving a SQLite store, Playwright
driving Debian's chromium (``/usr/bin/chromium``; nothing is downloaded).

One person signs in, grades 20 pairs by keyboard, undoes, reloads and resumes; a second person
grades the overlap; the agreement page shows both; the labels reach the store as calibration
input; the server stops and its process is gone.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml
from sqlalchemy import Engine, select

from annotator.pairs import labelled_pairs
from flows.config import PipelineConfig, load_config
from review.people import add_reviewer
from review.queue import fill_queue
from store.db import open_store
from store.schema import ReviewItem
from tests.review.conftest import build_store

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
DISSENT = Path(sys.executable).parent / "dissent"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the browser test must run in CI")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    engine: Engine
    config: PipelineConfig
    tokens: dict[str, str]


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dissent review exited with {process.returncode}: {log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"dissent review did not answer within 30 s: {log.read_text()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``dissent review`` on a free port over a small store with 40 queued pairs, a third of
    them wanted from two people, and two people's tokens."""
    port = _free_port()
    config_file = tmp_path / "dissent.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "workdir": str(tmp_path / "work"),
                "splits": {"fractions": [0.5, 0.5, 0.0, 0.0]},
                "review": {"port": port, "target": 40, "overlap_share": 0.3, "seed": 1},
            }
        )
    )
    config = load_config(config_file, environ={})
    engine = open_store(config.store_url)
    build_store(engine)
    fill_queue(engine, config, 40)
    tokens = {name: add_reviewer(engine, name) for name in ("ann", "bob")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISSENT_")}
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(DISSENT), "review", "-c", str(config_file)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield Served(url, process, engine, config, tokens)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        engine.dispose()


@pytest.fixture
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install -c constraints.txt -e '.[dev]')")
    if not CHROMIUM.exists():
        _missing(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield found
        found.close()


def _sign_in(page: Any, url: str, token: str) -> None:
    page.goto(f"{url}/queue")
    assert page.url == f"{url}/login"  # no session: the sign-in page
    page.fill("#token", token)
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(f"{url}/")


def _held(page: Any) -> int:
    return int(page.locator("form.grading input[name=item_id]").get_attribute("value"))


def _press(page: Any, key: str) -> None:
    """Press ``key`` and wait for the page its form leads to."""
    with page.expect_navigation():
        page.keyboard.press(key)


def _grade_by_keyboard(page: Any, grades: list[int]) -> list[int]:
    held = []
    for grade in grades:
        held.append(_held(page))
        _press(page, str(grade))
    return held


def _label_and_resume(page: Any, served: Served) -> dict[int, int]:
    """ann's part: 20 grades by keyboard, undo, reload and resume; returns item → grade."""
    _sign_in(page, served.url, served.tokens["ann"])
    page.click("a.button:has-text('Label pairs')")
    assert "cascade" not in page.content().lower()
    page.keyboard.press("?")
    assert page.locator("#rubric").evaluate("e => e.open")
    grades = [3, 2, 1, 0] * 5
    items = _grade_by_keyboard(page, grades)
    assert len(set(items)) == 20 and "Saved" in page.inner_text(".notice")
    _press(page, "u")  # the last grade back: its pair is shown again
    assert _held(page) == items[-1]
    page.reload()
    assert _held(page) == items[-1]  # a reload resumes it
    _press(page, "0")
    assert "20 labels of 40" in page.inner_text(".progress")
    assert _held(page) not in items  # nothing is shown twice
    return dict(zip(items, grades, strict=True))


def test_label_undo_resume_overlap_agreement_and_the_store(served: Served, browser: Any) -> None:
    start = time.monotonic()
    ann_page = browser.new_context().new_page()
    errors: list[str] = []  # a CSP violation shows as a console error
    ann_page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    ann = _label_and_resume(ann_page, served)
    assert errors == []
    with served.engine.connect() as conn:
        overlap = set(conn.scalars(select(ReviewItem.id).where(ReviewItem.raters == 2))) & set(ann)
    assert len(overlap) >= 3
    bob_page = browser.new_context().new_page()  # another person, another browser
    _sign_in(bob_page, served.url, served.tokens["bob"])
    bob_page.goto(f"{served.url}/queue")
    disagree = min(overlap)
    bob = {}
    for _ in overlap:  # bob is handed ann's overlap pairs first; he disagrees on one
        item = _held(bob_page)
        bob[item] = 3 - ann[item] if item == disagree else ann[item]
        _press(bob_page, str(bob[item]))
    assert set(bob) == overlap
    bob_page.goto(f"{served.url}/agreement")
    table = bob_page.inner_text("main")
    assert f"ann\tbob\t{len(overlap)}\t" in table and "α = " in table
    bob_page.goto(f"{served.url}/conflicts")
    assert bob_page.locator("article.conflict").count() == 1

    # what `dissent calibrate` reads: the settled grades, with their splits
    found = labelled_pairs(served.engine, served.config.splits, source="review")
    with served.engine.connect() as conn:
        rows = conn.execute(select(ReviewItem.id, ReviewItem.query_id, ReviewItem.product_id))
        pairs = {i: (q, p) for i, q, p in rows}
    expected = {pairs[i]: g for i, g in ann.items() if i != disagree}  # the conflict waits
    assert {(p.pair.query_id, p.pair.product_id): p.grade for p in found} == expected
    assert {p.split for p in found} == {"train", "calibration"}

    pid = served.process.pid
    served.process.send_signal(signal.SIGINT)  # Ctrl-C
    assert served.process.wait(10) == 0
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert time.monotonic() - start < 60
