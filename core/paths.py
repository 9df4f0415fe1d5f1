"""Where Dissent keeps its outputs inside the working folder (``workdir``).

One place spells out the layout, so that every stage, the CLI and the flows agree::

    dissent.db                   the SQLite store (unless store.url says otherwise)
    indexes/                     channel indexes of the latest mining run
    cache/embeddings/            product embeddings by model and content hash
    models/tier1-cross-encoder/  the trained tier-1 cross-encoder
    models/base/                 base models converted once (a GGUF through transformers)
    models/<recipe>/             trained retrievers (train.output_dir)
    export/                      the curriculum datasets (export.output_dir)
    reports/calibration/         the calibration report (HTML, Markdown, JSON)
    reports/evaluation.json      the retrieval evaluation (and its HTML page beside it)

Example:
    >>> Workdir(Path("dissent-work")).calibration_reports.as_posix()
    'dissent-work/reports/calibration'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Workdir"]


@dataclass(frozen=True)
class Workdir:
    """The folders and files under one working folder."""

    root: Path

    @property
    def store_db(self) -> Path:
        return self.root / "dissent.db"

    @property
    def indexes(self) -> Path:
        return self.root / "indexes"

    @property
    def embedding_cache(self) -> Path:
        return self.root / "cache" / "embeddings"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def tier1_model(self) -> Path:
        return self.models / "tier1-cross-encoder"

    @property
    def base_models(self) -> Path:
        return self.models / "base"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def calibration_reports(self) -> Path:
        return self.root / "reports" / "calibration"

    @property
    def evaluation_report(self) -> Path:
        return self.root / "reports" / "evaluation.json"
