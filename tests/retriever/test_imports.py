"""The retriever's import rules: it reads the curriculum only through the export on disk, its
modules import each other without a cycle, and importing it loads nothing heavy."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "retriever"
FORBIDDEN = {"curriculum", "annotator", "miners", "ingest", "flows", "cli", "bench", "review"}
HEAVY = ("torch", "datasets", "sentence_transformers", "transformers", "faiss", "ranx")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    """Every module named by an import anywhere in the file (TYPE_CHECKING and local too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_other_stage_is_imported() -> None:
    for name, path in _modules().items():
        tops = {imported.split(".")[0] for imported in _imports(path)}
        assert not tops & FORBIDDEN, f"{name} imports {tops & FORBIDDEN}"


def test_the_modules_import_each_other_without_a_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}
    for name, targets in graph.items():  # only an index names its own package's modules
        packages = {t for t in targets if modules[t].name == "__init__.py"}
        assert not packages, f"{name} imports the index {packages}; import the module itself"
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            assert state.get(target) != 1, f"import cycle: {' -> '.join([*path, target])}"
            if target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, retriever, retriever.losses, retriever.training, retriever.evaluating\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
