"""Where the retriever reads and writes by default, and the checks every path passes before
any work starts.

Defaults come from the pipeline config and :class:`core.paths.Workdir`: the export is
``export.output_dir`` (else ``workdir/export``), models go to ``train.output_dir`` (else
``workdir/models``), the evaluation report to ``workdir/reports/evaluation.json``. Each check
raises one :class:`core.errors.DissentError` line naming the path and how to fix it.

Example:
    >>> check_model_folder(Path("/nonexistent"), "model x")
    Traceback (most recent call last):
    ...
    core.errors.DissentError: model x: /nonexistent does not exist; name the folder of a sentence-transformers model (`dissent train` writes them to <models>/<recipe>/final)
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import DissentError
from core.models import default_model_path
from core.paths import Workdir

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings

__all__ = [
    "base_model",
    "check_model_folder",
    "check_writable_file",
    "check_writable_folder",
    "evaluation_report",
    "export_folder",
    "models_folder",
]

_MODEL_FILES = ("modules.json", "config.json")  # a sentence-transformers / transformers folder


def export_folder(config: RetrieverSettings) -> Path:
    """The curriculum export the retriever reads by default."""
    return Path(config.export.output_dir or Workdir(config.workdir).export)


def models_folder(config: RetrieverSettings) -> Path:
    """Where ``dissent train`` writes models by default (``<folder>/<recipe>/final``)."""
    return Path(config.train.output_dir or Workdir(config.workdir).models)


def evaluation_report(config: RetrieverSettings) -> Path:
    """Where ``dissent evaluate`` writes its JSON by default (the HTML page goes beside it)."""
    return Workdir(config.workdir).evaluation_report


def base_model(config: RetrieverSettings) -> str:
    """The model every recipe starts from: ``train.base_model``, else the packaged MiniLM."""
    return config.train.base_model or default_model_path()


def check_model_folder(path: Path, what: str) -> Path:
    """``path``, resolved, when it is a folder holding a model; ``what`` names it in errors.

    Raises:
        DissentError: it does not exist, is a file, or holds no ``modules.json`` or
            ``config.json``.
    """
    fix = (
        "name the folder of a sentence-transformers model (`dissent train` writes them to "
        "<models>/<recipe>/final)"
    )
    path = Path(path).expanduser()
    if not path.exists():
        raise DissentError(f"{what}: {path} does not exist; {fix}")
    if not path.is_dir():
        raise DissentError(f"{what}: {path} is a file, not a model folder; {fix}")
    if not any((path / name).is_file() for name in _MODEL_FILES):
        raise DissentError(f"{what}: {path} holds no model (no modules.json or config.json); {fix}")
    return path.resolve()


def check_writable_folder(folder: Path, what: str) -> Path:
    """``folder``, created if needed, once a file has been written to it and removed.

    Raises:
        DissentError: it cannot be created or written to.
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DissentError(
            f"cannot write {what} to {folder} ({reason}); choose a folder you can write to"
        ) from exc
    return folder.resolve()


def check_writable_file(path: Path, what: str) -> Path:
    """``path`` once its folder is writable and it is not a folder itself.

    Raises:
        DissentError: its folder cannot be written to, or ``path`` is a folder.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise DissentError(f"cannot write {what} to {path}: it is a folder; name a file")
    return check_writable_folder(path.parent, what) / path.name
