"""The examples in the curriculum modules' docstrings are true."""

from __future__ import annotations

import doctest

import pytest

import curriculum.augment
import curriculum.levels


@pytest.mark.parametrize("module", [curriculum.levels, curriculum.augment])
def test_docstring_examples(module: object) -> None:
    failed, tried = doctest.testmod(module, verbose=False)  # type: ignore[arg-type]
    assert tried > 0 and failed == 0
