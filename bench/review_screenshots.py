"""Screenshots of the review page for the README: the labelling queue and the agreement page.

Builds a small demo store from the shipped sample (its catalog and queries; its hand-made
judgments stand in for a mining run's candidates and the cascade's grades, with seeded slips),
queues pairs, lets three people grade some of them (the sample's grades, with a few seeded
slips of their own), serves ``dissent review`` and photographs two pages with Playwright
driving Debian's chromium (nothing is downloaded).

    python -m bench.review_screenshots [--out docs] [--chromium /usr/bin/chromium]

writes ``docs/review-queue.png`` and ``docs/review-agreement.png`` (1280×800).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml
from sqlalchemy import Engine, insert, select

from flows.config import PipelineConfig, load_config
from ingest.dataset import ingest_catalog, ingest_queries
from ingest.mapping import load_mapping
from review.labelling import next_task, record_grade
from review.people import add_reviewer, authenticate
from review.queue import fill_queue
from store.db import open_store
from store.ledger import Flow, recorded_run
from store.schema import Candidate, Judgment, Label, Product, Query, ReviewItem

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample"
GRADE = {"E": 3, "S": 2, "C": 1, "I": 0}
SET_OF = {3: "easy_positive", 2: "hard_positive", 1: "hard_negative", 0: "token_negative"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# who labels how much, and how often they slip from the sample's grade
PEOPLE = {"ann": (40, 0.08), "bob": (26, 0.15), "cy": (16, 0.2)}


def _slip(rng: random.Random, grade: int, rate: float) -> int:
    """``grade``, or a neighbour of it with probability ``rate``."""
    if rng.random() >= rate:
        return grade
    return min(3, grade + 1) if grade == 0 or rng.random() < 0.5 else grade - 1


def _sample_pairs(engine: Engine) -> list[tuple[int, int, str, int]]:
    """The sample's judged pairs: (query id, product id, content hash, grade)."""
    with engine.connect() as conn:
        queries = {e: i for e, i in conn.execute(select(Query.external_id, Query.id))}
        products = {
            e: (i, h)
            for e, i, h in conn.execute(
                select(Product.external_id, Product.id, Product.content_hash)
            )
        }
    with (SAMPLE / "labels.csv").open(encoding="utf-8") as f:
        return [
            (queries[r["query_id"]], *products[r["product_id"]], GRADE[r["label"]])
            for r in csv.DictReader(f)
        ]


def build_demo_store(engine: Engine, config: PipelineConfig, seed: int = 7) -> dict[str, str]:
    """The sample's catalog and queries, a mining run of its judged pairs, the cascade's
    grades of them, a queue, and three people's grades; returns the people's tokens."""
    mapping = load_mapping(SAMPLE / "mapping.yaml")
    ingest_catalog(engine, mapping)
    ingest_queries(engine, mapping)
    rng = random.Random(seed)
    pairs = _sample_pairs(engine)
    with recorded_run(engine, Flow.MINE, {"demo": True}, fingerprint="demo") as run:
        run_id = run.id
    candidates, judgments, labels = [], [], []
    for q, p, content, grade in pairs:
        mined = "random_negative" if grade == 0 and rng.random() < 0.3 else SET_OF[grade]
        candidates.append(
            {"run_id": run_id, "query_id": q, "product_id": p, "candidate_set": mined, "ranks": {}}
        )
        said = _slip(rng, grade, 0.2)
        spread = rng.choice([0.05, 0.2, 0.45])
        dist = [spread / 3] * 4
        dist[said] = 1 - spread
        common = {"query_id": q, "product_id": p, "product_hash": content}
        judgments.append(
            {**common, "tier": 1, "model_id": "demo", "prompt_hash": "demo", "distribution": dist}
        )
        labels.append({**common, "cascade_id": "demo", "grade": said, "status": "graded"})
    with engine.begin() as conn:
        conn.execute(insert(Candidate), candidates)
        conn.execute(insert(Judgment), judgments)
        conn.execute(insert(Label), labels)
    fill_queue(engine, config, config.review.target)
    return _label(engine, config, {(q, p): g for q, p, _, g in pairs}, rng)


def _label(
    engine: Engine, config: PipelineConfig, truth: dict[tuple[int, int], int], rng: random.Random
) -> dict[str, str]:
    """Each person grades their share of the queue, slipping now and then; their tokens."""
    with engine.connect() as conn:
        items = {
            i: (q, p)
            for i, q, p in conn.execute(
                select(ReviewItem.id, ReviewItem.query_id, ReviewItem.product_id)
            )
        }
    tokens = {name: add_reviewer(engine, name) for name in PEOPLE}
    for name, (count, slips) in PEOPLE.items():
        person = authenticate(engine, tokens[name])
        assert person is not None
        for _ in range(count):
            task = next_task(engine, person.id, config.review)
            if task is None:
                break
            grade = _slip(rng, truth[items[task.item_id]], slips)
            seconds = round(rng.uniform(3, 16), 1)
            record_grade(engine, person.id, task.item_id, grade, config.review, seconds=seconds)
    return tokens


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(config_file: Path, port: int) -> Iterator[str]:
    """``dissent review`` on ``port`` until the block ends; yields its URL."""
    dissent = Path(sys.executable).parent / "dissent"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISSENT_")}
    process = subprocess.Popen(
        [str(dissent), "review", "-c", str(config_file), "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                    break
            except OSError:
                if process.poll() is not None:
                    raise SystemExit(f"dissent review exited with {process.returncode}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)


def photograph(url: str, token: str, out: Path, chromium: Path) -> list[Path]:
    """Sign in, grade one pair by keyboard, photograph the queue and the agreement page."""
    from playwright.sync_api import sync_playwright

    shots = [out / "review-queue.png", out / "review-agreement.png"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{url}/login")
        page.fill("#token", token)
        page.click("button[type=submit]")
        page.goto(f"{url}/queue")
        with page.expect_navigation():
            page.keyboard.press("3")  # so the page says what the cascade said of it
        page.screenshot(path=str(shots[0]))
        page.goto(f"{url}/agreement")
        page.screenshot(path=str(shots[1]))
        browser.close()
    return shots


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--chromium", type=Path, default=Path("/usr/bin/chromium"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dissent-review-demo-") as tmp:
        config_file = Path(tmp) / "dissent.yaml"
        review = {"target": 150, "overlap_share": 0.3, "show_cascade": True, "seed": 3}
        config_file.write_text(
            yaml.safe_dump(
                {
                    "workdir": str(Path(tmp) / "work"),
                    "splits": {"fractions": [0.5, 0.5, 0.0, 0.0]},
                    "review": review,
                }
            )
        )
        config = load_config(config_file, environ={})
        engine = open_store(config.store_url)
        token = build_demo_store(engine, config)["ann"]
        engine.dispose()
        with serving(config_file, _free_port()) as url:
            for shot in photograph(url, token, args.out, args.chromium):
                print(f"wrote {shot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
