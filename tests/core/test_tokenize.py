"""The shared tokenizer, by hand."""

from __future__ import annotations

import pytest

from core.tokenize import STOPWORDS, tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("DEWALT 20V Café-Drill", ["dewalt", "20v", "cafe", "drill"]),
        ("1/2 in. x 10 ft. PVC pipe", ["1", "2", "x", "10", "ft", "pvc", "pipe"]),  # "in" drops
        ("a drill for the garden and the house", ["drill", "garden", "house"]),
        ("Ñandú  crème brûlée", ["nandu", "creme", "brulee"]),
        ("", []),
        ("!!! --- ???", []),
        ("60W/120V", ["60w", "120v"]),
    ],
)
def test_tokens(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_stopwords_are_short_english_function_words() -> None:
    assert {"the", "and", "for", "in", "with", "without"} <= STOPWORDS
    assert not {"drill", "x", "no", "ft"} & STOPWORDS  # dimensions and "no" carry meaning
