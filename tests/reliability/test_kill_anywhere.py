"""Kill any command at any moment: seeded SIGKILLs of real processes, resumed and compared.

For ``dissent ingest``, ``mine``, ``annotate``, ``curriculum build`` and ``export``, on SQLite
and on PostgreSQL: an uninterrupted chain on one store counts each command's moments (database
statements, inside transactions too, and folder renames; see tests/reliability/harness.py).
A second store runs the same chain with each command first SIGKILLed at ``KILLS`` moments drawn
by a seeded generator from that range, then run to the end. Afterwards both stores hold the
same content and both exports the same rows: nothing lost, nothing duplicated. Content is
compared by natural keys (external ids), not surrogate ids: PostgreSQL spends sequence numbers
in rolled-back transactions. A killed ``ingest`` leaves the store exactly as it was. On
PostgreSQL, ``mine`` and ``annotate`` also lose their database backend once
(``pg_terminate_backend``) at a seeded moment: one clear error line, and the resumed result is
the same. No run is left ``running`` once every command has finished.

The annotation tiers are scripted (an answer that depends only on the pair) so that runs compare
exactly; the real models' kill test is tests/annotator/test_service.py.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import aliased

from store.db import open_store
from store.ranked import decode
from store.schema import (
    Candidate,
    CurriculumExample,
    HumanLabel,
    Judgment,
    Label,
    Product,
    Query,
    RankedList,
    Run,
)
from tests.conftest import POSTGRES_URL, ROOT, SAMPLE

pytestmark = pytest.mark.slow

KILLS = 3
SEED = 13
ORDER = ("ingest", "mine", "calibrate", "annotate", "curriculum build", "export")
TERMINATED = ("mine", "annotate")  # on PostgreSQL, also once with the backend terminated
CALIBRATE = ["calibrate"]
STEPS: dict[str, list[str]] = {
    "ingest": ["ingest", "all", "--mapping", str(SAMPLE / "mapping.yaml")],
    "mine": ["mine"],
    "annotate": ["annotate"],
    "curriculum build": ["curriculum", "build"],
    "export": ["export"],
}


@dataclass
class Chain:
    """One store and workdir, and the commands run on it."""

    url: str
    workdir: Path
    moments: dict[str, int] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)

    def command(self, args: list[str], env: dict[str, str]) -> dict[str, Any]:
        """``subprocess`` arguments for ``dissent ARGS`` on this store, through the harness."""
        environ = {
            **os.environ,
            "DISSENT_STORE__URL": self.url,
            "DISSENT_WORKDIR": str(self.workdir),
            "DISSENT_TEST_SCRIPTED_TIERS": "1",
            # small sanity samples: the scripted tiers grade at random, the gate is not tested here
            "DISSENT_ANNOTATION__MAX_RANDOM_RELEVANT": "1.0",
            "DISSENT_ANNOTATION__BATCH_SIZE": "16",
            **env,
        }
        command = [sys.executable, "-m", "tests.reliability.harness", *args]
        command += ["--config", str(ROOT / "configs/sample.yaml")]
        return {"args": command, "env": environ, "cwd": ROOT, "text": True}

    def run(self, args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(**self.command(args, env), capture_output=True, timeout=300)
        except subprocess.TimeoutExpired as exc:  # the harness dumped its stacks at HANG_S
            stderr = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr
            pytest.fail(f"`dissent {' '.join(args)}` hung; its stacks:\n{(stderr or '')[-6000:]}")

    def start(self, args: list[str], **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            **self.command(args, env), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )

    def finish(self, step: str) -> None:
        """Run ``step`` to the end, counting its moments."""
        events = self.workdir / f"moments-{step.replace(' ', '-')}"
        done = self.run(STEPS.get(step, CALIBRATE), DISSENT_TEST_EVENTS=str(events))
        assert done.returncode == 0, f"{step}: {done.stderr[-3000:]}"
        self.moments[step] = int(events.read_text())

    def terminate(self, step: str, moment: int) -> None:
        """Run ``step`` with its PostgreSQL backend terminated at ``moment``: one clear error."""
        done = self.run(STEPS[step], DISSENT_TEST_TERMINATE_AT=str(moment))
        assert done.returncode == 1, f"{step}: {done.returncode} {done.stderr[-3000:]}"
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        assert "the connection to the store was lost" in done.stderr, done.stderr[-3000:]
        assert "run the same command again to resume" in done.stderr
        self.kills[f"{step} (backend terminated)"] += 1

    def kill(self, step: str, moment: int) -> bool:
        """Run ``step`` and SIGKILL it at ``moment``; False if it finished first."""
        done = self.run(STEPS[step], DISSENT_TEST_KILL_AT=str(moment))
        if done.returncode == 0:
            return False
        assert done.returncode == -signal.SIGKILL, f"{step}: {done.stderr[-3000:]}"
        self.kills[step] += 1
        return True


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Store URLs by kind: two SQLite files, two fresh PostgreSQL databases (dropped after)."""
    base = tmp_path_factory.mktemp("kill-anywhere")
    kinds = ("reference", "killed", "beside")
    urls: dict[str, Any] = {"sqlite": [f"sqlite:///{base / name}.db" for name in kinds]}
    admin = create_engine(make_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    names = [f"dissent_kill_{uuid.uuid4().hex[:8]}_{n}" for n in kinds]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'create database "{name}"'))
        url = make_url(POSTGRES_URL)
        urls["postgresql"] = [url.set(database=n).render_as_string(False) for n in names]
    except Exception as exc:  # no server: the SQLite half still runs
        if os.environ.get("CI"):
            raise
        urls["postgresql"] = exc
    yield {"base": base, **urls}
    if not isinstance(urls["postgresql"], Exception):
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


def _by_keys(table: Any, *columns: Any) -> Any:
    """``table``'s query and product as external ids, then ``columns``."""
    q, p = aliased(Query), aliased(Product)
    return (
        select(q.external_id, p.external_id, *columns)
        .join(q, q.id == table.query_id)
        .join(p, p.id == table.product_id)
    )


def _content(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows by natural keys, sorted (duplicates stay visible)."""
    engine = create_engine(url)
    q, p, n = aliased(Query), aliased(Product), aliased(Product)
    tables = {
        "products": select(
            Product.external_id,
            Product.title,
            Product.brand,
            Product.product_type,
            Product.content_hash,
        ),
        "queries": select(Query.external_id, Query.text, Query.segment),
        "human_labels": _by_keys(HumanLabel, HumanLabel.grade, HumanLabel.raw_label),
        "candidates": _by_keys(Candidate, Candidate.candidate_set, Candidate.ranks),
        "judgments": _by_keys(
            Judgment,
            Judgment.tier,
            Judgment.model_id,
            Judgment.grade,
            Judgment.accepted,
            Judgment.error,
        ),
        "labels": _by_keys(Label, Label.cascade_id, Label.grade, Label.deciding_tier),
        "curriculum": select(
            CurriculumExample.level,
            CurriculumExample.stage,
            CurriculumExample.split,
            q.external_id,
            CurriculumExample.query_text,
            CurriculumExample.augmented,
            p.external_id,
            n.external_id,
            CurriculumExample.label,
        )
        .join(q, q.id == CurriculumExample.query_id)
        .outerjoin(p, p.id == CurriculumExample.positive_id)
        .outerjoin(n, n.id == CurriculumExample.negative_id),
        "flows that succeeded": select(Run.flow).where(Run.status == "succeeded").distinct(),
    }
    with engine.connect() as conn:
        content = {
            name: sorted(
                tuple(json.dumps(v, sort_keys=True) for v in row) for row in conn.execute(query)
            )
            for name, query in tables.items()
        }
        content["ranked lists"] = _ranked_lists(conn)
    engine.dispose()
    return content


def _ranked_lists(conn: Any) -> list[tuple[Any, ...]]:
    """Each ranked list as (query, channel, products, scores), products by external id."""
    product = dict(conn.execute(select(Product.id, Product.external_id)).tuples().all())
    rows = conn.execute(
        select(
            Query.external_id, RankedList.channel, RankedList.product_ids, RankedList.scores
        ).join(Query, Query.id == RankedList.query_id)
    )
    out = []
    for query, channel, ids, scores in rows:
        products, values = decode(bytes(ids), bytes(scores))
        out.append((query, channel, [product[i] for i in products.tolist()], values.tolist()))
    return sorted(out)


def _export(workdir: Path, url: str) -> dict[str, Any]:
    """The exported rows of every dataset and the manifest's counts.

    The metadata's store ids are mapped to external ids (see :func:`_content`).
    """
    engine = create_engine(url)
    with engine.connect() as conn:
        external = {
            "query": dict(conn.execute(select(Query.id, Query.external_id)).tuples().all()),
            "product": dict(conn.execute(select(Product.id, Product.external_id)).tuples().all()),
        }
    engine.dispose()

    def by_external_id(row: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for key, value in row.items():
            ids = external["query" if key.startswith("query") else "product"]
            if key.endswith("_id") and value is not None:
                value = ids[value]
            elif key.endswith("_ids"):
                value = [ids[v] for v in value]
            out[key] = value
        return out

    root = workdir / "export"
    rows = {
        str(path.relative_to(root)): [by_external_id(r) for r in pq.read_table(path).to_pylist()]
        for path in sorted(root.rglob("*.parquet"))
    }
    manifest = json.loads((root / "manifest.json").read_text())
    # run ids differ between the stores (killed runs spent some); durations always do
    build = {k: v for k, v in manifest["build"].items() if not k.endswith(("run", "run_id"))}
    build.pop("seconds", None)
    return {"rows": rows, "counts": manifest["rows"], "build": build}


def _leftovers(workdir: Path) -> list[str]:
    """Staging or backup folders of killed exports left beside the export."""
    return sorted(p.name for p in workdir.glob(".export.*"))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_every_command_killed_at_random_moments_resumes_to_the_same_result(
    stores: dict[str, Any], kind: str
) -> None:
    if isinstance(stores[kind], Exception):
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {stores[kind]}")
    reference_url, killed_url, _ = stores[kind]
    reference = Chain(reference_url, stores["base"] / f"{kind}-reference")
    killed = Chain(killed_url, stores["base"] / f"{kind}-killed")
    rng = random.Random(f"{SEED}-{kind}")
    for url in (reference_url, killed_url):  # the schema exists: moments are the commands' own
        open_store(url).dispose()
    empty = _content(killed_url)
    for step in ORDER:
        reference.finish(step)
        if step == "calibrate":
            killed.finish(step)
            continue
        if kind == "postgresql" and step in TERMINATED:
            killed.terminate(step, rng.randint(1, reference.moments[step]))
        for moment in sorted(rng.sample(range(1, reference.moments[step] + 1), KILLS)):
            if not killed.kill(step, moment):
                break  # it finished before this moment: nothing left to interrupt
            if step == "ingest":
                assert _content(killed_url) == empty, f"a killed ingest (moment {moment}) wrote"
        assert killed.kills[step] >= 1, f"{step} finished before every kill moment"
        killed.finish(step)
        expected, found = _content(reference_url), _content(killed_url)
        for table in expected:
            assert found[table] == expected[table], f"after killed {step}: {table} differs"
    assert _export(killed.workdir, killed_url) == _export(reference.workdir, reference_url)
    assert _leftovers(killed.workdir) == []
    with create_engine(killed_url).connect() as conn:
        stuck = conn.execute(select(Run.flow).where(Run.status == "running")).scalars().all()
    assert stuck == [], "runs left 'running' after every command finished"
    print(f"{kind}: {sum(killed.kills.values())} kills survived {dict(killed.kills)}")
    print(f"{kind}: moments per command {reference.moments}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_annotate_beside_a_curriculum_build(stores: dict[str, Any], kind: str) -> None:
    """``dissent annotate`` writing labels while ``dissent curriculum build`` reads them:
    both finish (no lock error, no deadlock), every candidate ends labelled exactly once."""
    if isinstance(stores[kind], Exception):
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {stores[kind]}")
    url = stores[kind][2]
    chain = Chain(url, stores["base"] / f"{kind}-beside")
    for step in ("ingest", "mine", "calibrate"):
        chain.finish(step)
    first = chain.run(["annotate", "--limit", "200"])
    assert first.returncode == 0, first.stderr[-3000:]
    annotating = chain.start(["annotate"], DISSENT_ANNOTATION__BATCH_SIZE="4")
    build = chain.run(["curriculum", "build"])
    _, annotate_err = annotating.communicate(timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    assert annotating.returncode == 0, annotate_err[-3000:]
    engine = create_engine(url)
    with engine.connect() as conn:
        candidates = conn.execute(select(func.count()).select_from(Candidate)).scalar_one()
        labels = conn.execute(
            select(Label.query_id, Label.product_id, func.count()).group_by(
                Label.query_id, Label.product_id
            )
        ).all()
        statuses = conn.execute(select(Run.flow, Run.status)).all()
    engine.dispose()
    assert len(labels) == candidates > 200 and {n for *_, n in labels} == {1}
    assert {status for _, status in statuses} == {"succeeded"}, statuses
