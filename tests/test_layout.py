"""The shape of the code: dependencies point one way, modules and functions stay readable.

Read from the source with ``ast`` (every import counts: top-level, inside functions and under
``TYPE_CHECKING``), so these hold for code that is never imported by another test:

- ``cli → flows → {ingest, miners, annotator, curriculum, retriever, review} → store → core``
  (``prompts`` is data every stage may read); the stage packages import none of each other, and
  the retriever reads the curriculum only through its export on disk;
- no import cycle between the modules of one package;
- no module over 400 lines (migrations aside), no function over 80.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = (
    "core",
    "store",
    "prompts",
    "ingest",
    "miners",
    "annotator",
    "curriculum",
    "retriever",
    "review",
    "flows",
    "cli",
)
STAGES = ("ingest", "miners", "annotator", "curriculum", "retriever", "review")
# What each package may import, besides itself.
ALLOWED = {
    "core": set(),
    "store": {"core"},
    "prompts": {"core"},
    **{stage: {"core", "store", "prompts"} for stage in STAGES},
    "flows": {"core", "store", "prompts", *STAGES},
    "cli": {"core", "store", "prompts", *STAGES, "flows"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module of ours that ``name`` imports, wherever the import statement is."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (t for t in targets if t in MODULES)


GRAPH = {name: set(_imports(name, path)) for name, path in MODULES.items()}


def test_the_packages_are_found() -> None:
    assert {"core.config", "store.ledger", "miners.mine", "cli.app"} <= set(MODULES)


@pytest.mark.parametrize("package", PACKAGES)
def test_dependencies_point_one_way(package: str) -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in {package, *ALLOWED[package]}
    )
    assert wrong == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring a package
    index importing its own submodules (``__init__`` re-exports)."""
    edges = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_modules_stay_readable() -> None:
    long = {
        name: n
        for name, path in MODULES.items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_functions_stay_readable() -> None:
    long = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {lines} lines")
    assert long == []


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_names_its_public_api(package: str) -> None:
    """A package's ``__init__`` is a short, side-effect-free index: a docstring, ``__all__``
    naming what it offers (imported, or loaded on first use by a module ``__getattr__``), and
    nothing that runs work at import."""
    import importlib

    init = ROOT / package / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{package}/__init__.py has no docstring"
    for node in tree.body[1:]:
        index_like = (
            isinstance(node, ast.Import | ast.ImportFrom | ast.Assign | ast.AnnAssign)
            or (isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
            or (isinstance(node, ast.FunctionDef) and node.name in ("__getattr__", "__dir__"))
        )
        assert index_like, f"{package}/__init__.py line {node.lineno} is not an index"
    module = importlib.import_module(package)
    assert isinstance(module.__all__, list | tuple)
    assert [name for name in module.__all__ if not hasattr(module, name)] == []
