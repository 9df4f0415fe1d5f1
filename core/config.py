"""Typed configuration: one YAML file, typed sections, ``DISSENT_*`` overrides read here only.

Each stage owns its section (``miners.config.MiningConfig``, ``annotator.config``,
``curriculum.config``, ``retriever.config``, ``store.db.StoreConfig``, ``flows.config.FlowsConfig``) and each plug-in
contract owns the names its section accepts (``miners.base.ChannelName``,
``annotator.backends.base.BackendName``); ``flows.config.PipelineConfig`` composes them.
This module holds what they share: the strict :class:`Section` base, and :func:`load_model`,
which reads a root model from, in increasing priority:

1. the defaults embedded in the models;
2. a YAML file;
3. environment variables ``DISSENT_<SECTION>__<KEY>[__<KEY>...]``. Values are parsed as YAML
   scalars, so ``DISSENT_MINING__TOP_K=200`` is an int and ``DISSENT_MINING__CHANNELS='[bm25,
   dense]'`` a list. List items are addressed by index:
   ``DISSENT_ANNOTATION__TIERS__2__BASE_URL=http://gpu:8000/v1``.

Every section has ``extra="forbid"``, so a misspelt key is an error that names the key and the
keys allowed there. Secrets never live in a config: a tier names the environment variable that
holds its API key (``api_key_env``), and the key itself is read when the backend is built.

Example:
    >>> class Root(Section):
    ...     top_k: int = 10
    >>> load_model(Root, environ={"DISSENT_TOP_K": "100"}).top_k
    100
    >>> load_model(Root, environ={"DISSENT_TOPK": "1"})
    Traceback (most recent call last):
    ...
    core.errors.ConfigError: defaults + environment (DISSENT_TOPK): unknown key 'topk'; allowed keys in the top level: top_k
"""

from __future__ import annotations

import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from core.errors import ConfigError, DissentError

__all__ = [
    "ENV_PREFIX",
    "NOT_CONFIG_KEYS",
    "Section",
    "dump_model",
    "explain_model",
    "load_model",
    "read_yaml",
]

ENV_PREFIX = "DISSENT_"
# Variables with the prefix that are not config keys (tests' own settings start DISSENT_TEST_):
# the config file's path, the Home Depot data folder, and the checkout a Prefect worker runs in.
NOT_CONFIG_KEYS = frozenset({"DISSENT_CONFIG", "DISSENT_HOMEDEPOT_DIR", "DISSENT_HOME"})

M = TypeVar("M", bound=BaseModel)


class Section(BaseModel):
    """A configuration section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _model_at(root: type[BaseModel], path: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class found by walking ``path`` from ``root`` (None if not a model)."""
    model: Any = root
    for part in path:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        field = fields.get(part) if isinstance(fields, dict) else None
        if field is None:
            return None
        model = _unwrap(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """list[X] / X | None / tuple -> X, so that list items can be walked into."""
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _explain(root: type[BaseModel], exc: ValidationError, source: str) -> str:
    """One readable line for the first problem of a validation error."""
    err = exc.errors()[0]
    loc = tuple(err["loc"])
    dotted = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        parent = loc[:-1]
        model = _model_at(root, parent)
        allowed = ", ".join(model.model_fields) if model else "?"
        where = ".".join(str(p) for p in parent) or "the top level"
        return f"{source}: unknown key '{dotted}'; allowed keys in {where}: {allowed}"
    if _is_secret(loc):  # it may hold a key put where its variable's name belongs
        return f"{source}: '{dotted}': {err['msg']} (the value is not shown)"
    return f"{source}: '{dotted}': {err['msg']} (got {err.get('input')!r})"


_SECRET_WORDS = ("key", "password", "secret", "token")


def _is_secret(loc: tuple[Any, ...]) -> bool:
    """Whether a config key may hold a credential: its value never appears in a message."""
    last = str(loc[-1]).lower() if loc else ""
    return any(word in last for word in _SECRET_WORDS)


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = tree
    for i, part in enumerate(path):
        last = i == len(path) - 1
        key: str | int = int(part) if part.isdigit() else part
        if isinstance(node, list):
            if not isinstance(key, int) or key >= len(node):
                raise ConfigError(f"environment: index {part!r} is out of range in {path}")
            if last:
                node[key] = value
            else:
                node = node[key]
            continue
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})


def _env_overrides(environ: Mapping[str, str], tree: dict[str, Any]) -> list[str]:
    applied = []
    for name in sorted(environ):
        if (
            not name.startswith(ENV_PREFIX)
            or name in NOT_CONFIG_KEYS
            or name.startswith("DISSENT_TEST_")
        ):
            continue
        path = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(
                f"environment variable {name}: empty key part; use DISSENT_SECTION__KEY"
            )
        try:
            value = yaml.safe_load(environ[name])
        except yaml.YAMLError as exc:
            raise ConfigError(f"environment variable {name}: not a YAML value ({exc})") from exc
        _set_path(tree, path, value)
        applied.append(name)
    return applied


def read_yaml(path: Path, what: str, error: type[DissentError] = ConfigError) -> Any:
    """The YAML document in ``path``, or ``error`` naming ``what`` ("config file") and why.

    Example:
        >>> read_yaml(Path("/nonexistent.yaml"), "mapping file")
        Traceback (most recent call last):
        ...
        core.errors.ConfigError: mapping file /nonexistent.yaml does not exist
    """
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise error(f"{what} {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise error(f"{what} {path} is a directory; give a YAML file") from exc
    except PermissionError as exc:
        raise error(f"{what} {path} cannot be read (permission denied)") from exc
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from exc
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from exc


def _read_yaml(path: Path) -> dict[str, Any]:
    loaded = read_yaml(path, "config file")
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"config file {path}: expected a mapping of sections at the top level")
    return loaded or {}


def _deep_merge(base: Any, over: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) in ``over`` replaces ``base``."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _deep_merge(base[key], value) if key in base else value
        return out
    return over


def load_model(
    root: type[M], path: Path | None = None, environ: Mapping[str, str] | None = None
) -> M:
    """Read the effective configuration of the ``root`` model.

    Args:
        root: the configuration model (its fields are the YAML file's top-level keys).
        path: a YAML file; ``None`` uses ``$DISSENT_CONFIG`` if set, else only the defaults.
        environ: the environment to read ``DISSENT_*`` overrides from (default ``os.environ``).

    Raises:
        ConfigError: the file is missing or not YAML, or a key or value is invalid; the
            message names the key and what is allowed.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get("DISSENT_CONFIG"):
        path = Path(env["DISSENT_CONFIG"])
    tree = _read_yaml(path) if path is not None else {}
    source = str(path) if path is not None else "defaults"
    # List overrides by index need the list to exist: start from the defaults' dump.
    merged = _deep_merge(root().model_dump(mode="json"), tree)
    applied = _env_overrides(env, merged)
    if applied:
        source += " + environment (" + ", ".join(applied) + ")"
    try:
        return root.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_explain(root, exc, source)) from exc


def dump_model(config: BaseModel) -> str:
    """A configuration as YAML, as ``dissent config show`` prints it."""
    data = config.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def explain_model(config: BaseModel, indent: int = 0) -> str:
    """A configuration as YAML with each key's description as a comment, as ``dissent config
    show --explain`` prints it.

    Example:
        >>> from pydantic import Field
        >>> class Root(Section):
        ...     top_k: int = Field(default=10, description="results kept per query")
        >>> print(explain_model(Root()), end="")
        top_k: 10  # results kept per query
    """
    lines: list[str] = []
    pad = " " * indent
    for name, field in type(config).model_fields.items():
        value = getattr(config, name)
        note = f"  # {field.description}" if field.description else ""
        if isinstance(value, BaseModel):
            lines.append(f"{pad}{name}:{note}")
            lines.append(explain_model(value, indent + 2).rstrip("\n"))
        elif isinstance(value, list) and value and all(isinstance(v, BaseModel) for v in value):
            lines.append(f"{pad}{name}:{note}")
            for item in value:
                body = explain_model(item, indent + 4).rstrip("\n")
                lines.append(f"{pad}  - " + body[indent + 4 :])
        else:
            lines.append(f"{pad}{name}: {_scalar(value)}{note}")
    return "\n".join(line for line in lines if line) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    elif isinstance(value, Path):
        value = str(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
    return text.strip().removesuffix("...").strip()
