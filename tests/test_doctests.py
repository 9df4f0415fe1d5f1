"""Every example in the library's docstrings runs and shows what it says."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

from tests.conftest import ROOT

PACKAGES = (
    "core",
    "store",
    "ingest",
    "miners",
    "annotator",
    "prompts",
    "curriculum",
    "retriever",
    "review",
    "flows",
    "cli",
)


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        module = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{package}."):
            if ".migrations" not in info.name:
                names.append(info.name)
    return sorted(names)


def _with_examples(name: str) -> bool:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    return any(test.examples for test in finder.find(module))


MODULES = [name for name in _modules() if _with_examples(name)]


def test_the_modules_with_examples_are_found() -> None:
    assert {"core.config", "store.ledger", "miners.disagreement", "annotator.metrics"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # examples read the repository's configs and sample
    module: ModuleType = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    failed, tried = doctest.testmod(module, optionflags=flags, verbose=False)
    assert tried > 0 and failed == 0
