"""``dissent export``: a curriculum run as Hugging Face datasets, Parquet and a dataset card.

The output directory holds::

    README.md                      the dataset card (counts, provenance, how to train)
    manifest.json                  the same figures, machine-readable
    stage1_bce/                    DatasetDict(train, validation), save_to_disk
    stage2_mnr/                    ...
    stage3_triplet/
    graded/                        query with its products grouped by grade (list-wise losses)
    parquet/<name>/<split>.parquet the same rows as Parquet (the card's hub configs point here)
    metadata/<name>/<split>.parquet row-aligned ids, levels and the augmented flag

Training columns are exactly what sentence-transformers' losses read, in order, and nothing
else (its trainer feeds every column but ``label``/``score`` to the model):

- ``stage1_bce``: ``query``, ``product``, ``label`` (1.0 relevant / 0.0 not): pointwise, for
  :class:`retriever.losses.BiEncoderBCELoss` (or ``ContrastiveLoss``, ``CoSENTLoss``).
- ``stage2_mnr``: ``anchor``, ``positive``, ``negative`` for ``MultipleNegativesRankingLoss``
  (use ``BatchSamplers.NO_DUPLICATES``: a query has several rows).
- ``stage3_triplet``: ``anchor``, ``positive``, ``negative`` for ``TripletLoss``.
- ``graded``: ``query``, ``exact``, ``substitute``, ``complement``, ``irrelevant`` (lists of
  product texts) for list-wise and odds-ratio losses such as ROAR's.

The export is written to a temporary directory beside the target and moved into place at the
end, so a failed export leaves the previous one untouched and never a half-written one.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.errors import DissentError
from core.paths import Workdir
from curriculum.card import render_card
from curriculum.config import ExportSettings
from curriculum.levels import LEVELS
from curriculum.stages import GRADED_LIST, STAGES
from store.catalog import load_products, product_text
from store.ledger import Flow, lineage, recorded_run, resolve_run
from store.schema import Calibration, CurriculumExample, Run

__all__ = ["ExportReport", "export_curriculum", "push_to_hub"]

log = logging.getLogger(__name__)

GRADE_COLUMNS = ("irrelevant", "complement", "substitute", "exact")  # index = grade
SPLITS = ("train", "validation")


@dataclass
class ExportReport:
    """Where an export went and what it holds."""

    curriculum_run: int
    output_dir: str
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    pushed_to: str | None = None

    def lines(self) -> list[str]:
        out = [f"exported curriculum run {self.curriculum_run} to {self.output_dir}"]
        for name, by_split in self.rows.items():
            out.append(f"  {name}: " + ", ".join(f"{k} {v:,}" for k, v in by_split.items()))
        out.append(f"  dataset card: {self.paths.get('card')}; {self.seconds:.1f} s")
        if self.pushed_to:
            out.append(f"  pushed to https://huggingface.co/datasets/{self.pushed_to}")
        return out


def _provenance(engine: Engine, curriculum: Run) -> dict[str, Any]:
    """The mining run, the annotation's calibration and the tiers' versions, for the card."""
    found = lineage(engine, curriculum)
    mining, calibrate = found.mining, found.calibration
    tiers: list[Calibration] = []
    if calibrate is not None:
        with Session(engine, expire_on_commit=False) as session:
            tiers = list(
                session.scalars(
                    select(Calibration)
                    .where(Calibration.run_id == calibrate.id)
                    .order_by(Calibration.tier)
                )
            )
    mining_report = (mining.counts or {}).get("report", {}) if mining is not None else {}
    return {
        "mining": {
            "run_id": curriculum.mining_run_id,
            "channels": (mining.parameters or {}).get("mining", {}).get("channels")
            if mining is not None
            else None,
            "queries": mining_report.get("queries"),
            "products": mining_report.get("products"),
            "candidates": mining_report.get("counts", {}),
            "overlap": mining_report.get("overlap", {}),
        },
        "cascade_id": curriculum.cascade_id,
        "annotate_run": found.annotation.id if found.annotation is not None else None,
        "annotation": {
            k: (found.annotation.parameters or {}).get(k)
            for k in ("sets", "limit", "max_queries", "sample")
        }
        if found.annotation is not None
        else None,
        "calibration": None
        if calibrate is None
        else {
            "run_id": calibrate.id,
            "status": calibrate.status,
            "linked": True,
            "cascade_test": (calibrate.counts or {}).get("cascade_test"),
            "gate": (calibrate.counts or {}).get("gate"),
            "report": (calibrate.counts or {}).get("report"),
        },
        "tiers": [
            {
                "tier": c.tier,
                "model_id": c.model_id,
                "prompt_hash": c.prompt_hash,
                "accept": c.thresholds.get("accept"),
            }
            for c in tiers
        ],
    }


def _rows(
    engine: Engine, run_id: int, texts: dict[int, str]
) -> dict[str, dict[str, tuple[dict[str, list[Any]], dict[str, list[Any]]]]]:
    """Per dataset name and split: (training columns, metadata columns)."""
    stmt = (
        select(CurriculumExample)
        .where(CurriculumExample.run_id == run_id)
        .order_by(CurriculumExample.id)
    )
    out: dict[str, dict[str, tuple[dict[str, list[Any]], dict[str, list[Any]]]]] = {}
    graded: dict[tuple[str, int, str, bool], list[list[str]]] = {}
    graded_ids: dict[tuple[str, int, str, bool], list[list[int]]] = {}
    with Session(engine) as session:
        examples = session.scalars(stmt).all()
        for e in examples:
            if e.stage == GRADED_LIST:
                key = (e.split, e.query_id, e.query_text, e.augmented)
                if key not in graded:
                    graded[key] = [[] for _ in GRADE_COLUMNS]
                    graded_ids[key] = [[] for _ in GRADE_COLUMNS]
                grade = int(e.label or 0)
                assert e.positive_id is not None
                graded[key][grade].append(texts[e.positive_id])
                graded_ids[key][grade].append(e.positive_id)
                continue
            name = STAGES[e.stage]
            cols, meta = out.setdefault(name, {}).setdefault(
                e.split, (defaultdict(list), defaultdict(list))
            )
            if e.stage == 1:
                product = e.positive_id if e.positive_id is not None else e.negative_id
                assert product is not None
                cols["query"].append(e.query_text)
                cols["product"].append(texts[product])
                cols["label"].append(float(e.label or 0.0))
                meta["product_id"].append(product)
            else:
                assert e.positive_id is not None and e.negative_id is not None
                cols["anchor"].append(e.query_text)
                cols["positive"].append(texts[e.positive_id])
                cols["negative"].append(texts[e.negative_id])
                meta["positive_id"].append(e.positive_id)
                meta["negative_id"].append(e.negative_id)
            meta["query_id"].append(e.query_id)
            meta["level"].append(e.level)
            meta["augmented"].append(e.augmented)
    for (split, qid, text, augmented), lists in graded.items():
        cols, meta = out.setdefault("graded", {}).setdefault(
            split, (defaultdict(list), defaultdict(list))
        )
        cols["query"].append(text)
        for column, items in zip(GRADE_COLUMNS, lists, strict=True):
            cols[column].append(items)
        meta["query_id"].append(qid)
        meta["augmented"].append(augmented)
        for column, ids in zip(GRADE_COLUMNS, graded_ids[split, qid, text, augmented], strict=True):
            meta[f"{column}_ids"].append(ids)
    return out


def _features(name: str) -> Any:
    from datasets import Features, Sequence, Value

    if name == "stage1_bce":
        return Features(
            {"query": Value("string"), "product": Value("string"), "label": Value("float32")}
        )
    if name == "graded":
        return Features(
            {
                "query": Value("string"),
                **{c: Sequence(Value("string")) for c in GRADE_COLUMNS[::-1]},
            }
        )
    return Features(
        {"anchor": Value("string"), "positive": Value("string"), "negative": Value("string")}
    )


def _write(
    directory: Path, name: str, splits: dict[str, tuple[dict[str, list[Any]], dict[str, list[Any]]]]
) -> dict[str, int]:
    from datasets import Dataset, DatasetDict, disable_progress_bars

    disable_progress_bars()
    features = _features(name)
    parts: dict[str, Dataset] = {}
    counts: dict[str, int] = {}
    for split in SPLITS:
        cols, meta = splits.get(split, ({}, {}))
        data = {column: list(cols.get(column, [])) for column in features}
        parts[split] = Dataset.from_dict(data, features=features)
        counts[split] = len(parts[split])
        (directory / "parquet" / name).mkdir(parents=True, exist_ok=True)
        parts[split].to_parquet(str(directory / "parquet" / name / f"{split}.parquet"))
        (directory / "metadata" / name).mkdir(parents=True, exist_ok=True)
        Dataset.from_dict(dict(meta)).to_parquet(
            str(directory / "metadata" / name / f"{split}.parquet")
        )
    # An empty split saved with the default sharding has zero shards and does not load back.
    DatasetDict(parts).save_to_disk(
        str(directory / name), num_shards={s: 1 for s, d in parts.items() if len(d) == 0}
    )
    return counts


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A staging folder beside ``target`` that replaces it when the block succeeds.

    On any error the staging folder is removed and ``target`` (a previous export) is left as
    it was. Folders left by killed exports are tidied first: staging folders are removed, and
    an export killed between its two renames (previous export moved aside, new one not yet in
    place) has its previous export put back.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.partial-*"):  # killed earlier exports
        shutil.rmtree(stale, ignore_errors=True)
    for aside in sorted(
        target.parent.glob(f".{target.name}.old-*"), key=os.path.getmtime, reverse=True
    ):
        if target.exists():
            shutil.rmtree(aside, ignore_errors=True)
        else:
            aside.rename(target)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}")
    staging.mkdir()
    try:
        yield staging
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if target.exists():
            target.rename(old)
        try:
            staging.rename(target)
        except BaseException:
            if old.exists():
                old.rename(target)  # put the previous export back
            raise
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _write_export(
    engine: Engine, config: ExportSettings, run: Run, staging: Path, report: ExportReport
) -> None:
    """Every dataset, the manifest and the card, into ``staging``."""
    texts = {
        p.id: product_text(p, description=config.curriculum.use_description)
        for p in load_products(engine)
    }
    rows = _rows(engine, run.id, texts)
    for name in (*STAGES.values(), "graded"):
        report.rows[name] = _write(staging, name, rows.get(name, {}))
    target = Path(report.output_dir)
    report.paths = {
        "card": str(target / "README.md"),
        "manifest": str(target / "manifest.json"),
        **{name: str(target / name) for name in report.rows},
    }
    manifest = {
        "curriculum_run": run.id,
        "build": run.counts["report"],
        "rows": report.rows,
        "provenance": _provenance(engine, run),
        "levels": LEVELS,
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    (staging / "README.md").write_text(render_card(manifest))


def export_curriculum(
    engine: Engine,
    config: ExportSettings,
    *,
    curriculum_run: int | None = None,
    output_dir: Path | None = None,
    hub_repo: str | None = None,
) -> ExportReport:
    """Export a curriculum run (default: the latest) as datasets, Parquet and a dataset card.

    Records an ``export`` run that names the curriculum run it exported.

    Args:
        engine: the store.
        config: the pipeline config (``export.output_dir``, ``curriculum.use_description``).
        curriculum_run: the run to export.
        output_dir: where to write (default ``export.output_dir`` or ``workdir/export``);
            an existing export there is replaced only once the new one is complete.
        hub_repo: also push every dataset to this Hugging Face dataset repository.

    Raises:
        DissentError: no curriculum to export, or the push failed (the local export stays).
    """
    started = time.perf_counter()
    run = resolve_run(engine, Flow.CURRICULUM, curriculum_run)
    default = Workdir(config.workdir).export
    target = Path(output_dir or config.export.output_dir or default).resolve()
    report = ExportReport(curriculum_run=run.id, output_dir=str(target))
    params = {"output_dir": str(target), "push_to_hub": hub_repo}
    with recorded_run(engine, Flow.EXPORT, params, curriculum_run_id=run.id) as record:
        with _replacing(target) as staging:
            _write_export(engine, config, run, staging, report)
        report.seconds = time.perf_counter() - started
        if hub_repo:
            push_to_hub(target, hub_repo)
            report.pushed_to = hub_repo
        record.counts = {"rows": report.rows, "output_dir": report.output_dir}
    counts = Counter({f"{n}/{s}": c for n, by in report.rows.items() for s, c in by.items()})
    log.info("exported %s in %.1f s: %s", target, report.seconds, dict(counts))
    return report


def push_to_hub(directory: Path, repo: str, *, token: str | None = None) -> None:
    """Push an export's datasets and card to the Hugging Face Hub dataset repo ``repo``.

    Raises:
        DissentError: no token, no network or the Hub refused: one line saying which.
    """
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise DissentError(
            "cannot push to the Hugging Face Hub: no token; set HF_TOKEN or run "
            "`hf auth login` (the local export is complete)"
        )
    try:
        api = HfApi(token=token)
        api.create_repo(repo, repo_type="dataset", exist_ok=True)
        api.upload_folder(
            folder_path=str(directory),
            repo_id=repo,
            repo_type="dataset",
            allow_patterns=["README.md", "manifest.json", "parquet/**", "metadata/**"],
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DissentError(
            f"cannot push to the Hugging Face Hub repo {repo}: {first}; check the network "
            "(or HF_ENDPOINT) and that the token may write to the repo, then run "
            f"`dissent export --push-to-hub {repo}` again (the local export in {directory} "
            "is complete)"
        ) from exc
