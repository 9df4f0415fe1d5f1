"""The models an evaluation scores: each checked, named, and identified by what made it.

A model ``dissent train`` wrote carries ``dissent-train.json``: its identity (the hash of its
base model, settings, recipe and rows: :mod:`retriever.plan`) and the train run that made it.
Any other model folder (the base model, one trained elsewhere) is identified by a hash of its
weight and config files. An evaluate run records both, so its figures say exactly which models
they are about.

:func:`default_models` is what ``dissent evaluate`` scores when told nothing: the base model,
then every model under the models folder that ``dissent train`` finished — the configured
recipes first, in their order, then the others by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.hashing import file_digest
from retriever.paths import base_model, check_model_folder, models_folder
from retriever.plan import TRAIN_JSON

if TYPE_CHECKING:
    from retriever.config import RetrieverSettings

__all__ = ["ModelRef", "default_models", "model_refs"]

_CONTENT = (".safetensors", ".bin", ".json")  # weights, configs, tokenizer: what decides output


@dataclass(frozen=True)
class ModelRef:
    """A checked model folder: its name in the report, path, identity and train run."""

    name: str
    path: str
    identity: str
    train_run: int | None = None
    recipe: str | None = None

    def record(self) -> dict[str, Any]:
        """What the evaluate run records of the model."""
        return {
            "path": self.path,
            "identity": self.identity,
            "train_run": self.train_run,
            "recipe": self.recipe,
        }


def _trained(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / TRAIN_JSON).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("identity") else None


def _content_identity(folder: Path) -> str:
    """SHA-256 over the folder's weight and config files (top level and module folders)."""
    digest = hashlib.sha256()
    files = sorted(
        f
        for f in folder.rglob("*")
        if f.is_file() and f.suffix in _CONTENT and f.name != TRAIN_JSON
    )
    for file in files:
        digest.update(str(file.relative_to(folder)).encode() + b"\0")
        file_digest(file, digest)
    return digest.hexdigest()


def model_refs(models: Mapping[str, str | Path]) -> list[ModelRef]:
    """Check every model folder and identify it, before any is loaded.

    Raises:
        DissentError: a path is not a model folder (the message names the model and path).
    """
    refs = []
    hashed: dict[Path, str] = {}  # a folder named twice is hashed once
    for name, path in models.items():
        folder = check_model_folder(Path(path), f"model {name}")
        meta = _trained(folder)
        if meta is not None:
            train_run, recipe = meta.get("train_run"), meta.get("recipe")
            refs.append(ModelRef(name, str(folder), str(meta["identity"]), train_run, recipe))
            continue
        if folder not in hashed:
            hashed[folder] = _content_identity(folder)
        refs.append(ModelRef(name, str(folder), hashed[folder]))
    return refs


def default_models(config: RetrieverSettings) -> dict[str, str]:
    """``base`` -> the base model, then recipe -> ``<models>/<recipe>/final`` for every model
    ``dissent train`` finished there (configured recipes first)."""
    found = {
        folder.parent.name: str(folder)
        for folder in sorted(models_folder(config).glob("*/final"))
        if _trained(folder) is not None
    }
    order: list[str] = [r for r in config.train.recipes if r in found]
    order += sorted(name for name in found if name not in order)
    return {"base": base_model(config), **{name: found[name] for name in order}}
