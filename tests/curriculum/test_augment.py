"""Typo augmentation: each edit's shape, protected digits and units, seeding and the rate."""

from __future__ import annotations

import random
import re
import string

import pytest

from curriculum.augment import (
    KEYBOARD_NEIGHBOURS,
    OPERATIONS,
    UNIT_WORDS,
    Typo,
    add_typo,
    choose_typos,
)

SEEDS = range(200)
PROTECTED_QUERIES = [
    "3/4 in. pvc pipe 10 ft",
    "20v max drill",
    "2x4 lumber 8 ft",
    "1 gal interior paint",
    "12 volt battery 18-gauge wire 50 ft",
    "5000 btu window air conditioner",
    "2 pk 60 watt led bulb",
]


def _typos(query: str, operation: str) -> list[Typo]:
    typos = [add_typo(query, random.Random(seed), (operation,)) for seed in SEEDS]
    assert all(typo is not None and typo.operation == operation for typo in typos)
    return [typo for typo in typos if typo is not None]


def _edited(query: str, typo: Typo) -> tuple[str, str]:
    """The clean and noisy token, after checking every other token is untouched."""
    clean, noisy = query.split(), typo.text.split()
    assert len(clean) == len(noisy)
    assert [t for i, t in enumerate(clean) if i != typo.token] == [
        t for i, t in enumerate(noisy) if i != typo.token
    ]
    return clean[typo.token], noisy[typo.token]


def _differences(a: str, b: str) -> list[int]:
    assert len(a) == len(b)
    return [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]


def test_deletion_removes_one_letter() -> None:
    query = "cordless hammer drill"
    for typo in _typos(query, "deletion"):
        clean, noisy = _edited(query, typo)
        assert len(noisy) == len(clean) - 1
        assert noisy in {clean[:i] + clean[i + 1 :] for i in range(len(clean))}


def test_insertion_adds_one_lowercase_letter() -> None:
    query = "cordless hammer drill"
    for typo in _typos(query, "insertion"):
        clean, noisy = _edited(query, typo)
        assert len(noisy) == len(clean) + 1
        added = [noisy[i] for i in range(len(noisy)) if noisy[:i] + noisy[i + 1 :] == clean]
        assert added and added[0] in string.ascii_lowercase


def test_swap_exchanges_two_adjacent_different_letters() -> None:
    query = "cordless hammer drill"
    for typo in _typos(query, "swap"):
        clean, noisy = _edited(query, typo)
        assert sorted(noisy) == sorted(clean)
        i, j = _differences(clean, noisy)
        assert j == i + 1
        assert (noisy[i], noisy[j]) == (clean[j], clean[i])


def test_swap_never_exchanges_letters_equal_but_for_case() -> None:
    # "Aa" -> "aA" would be no typo at all for a lowercasing model.
    typos = _typos("Aaab", "swap")
    assert {typo.text for typo in typos} == {"Aaba"}
    assert add_typo("AaaA oOo", random.Random(0), ("swap",)) is None


def test_substitution_replaces_one_letter_keeping_its_case() -> None:
    query = "DeWalt Cordless Drill"
    for typo in _typos(query, "substitution"):
        clean, noisy = _edited(query, typo)
        [i] = _differences(clean, noisy)
        assert noisy[i].lower() != clean[i].lower()
        assert noisy[i].lower() in string.ascii_lowercase
        assert noisy[i].isupper() == clean[i].isupper()


def test_keyboard_uses_a_qwerty_neighbour_and_keeps_case() -> None:
    query = "DeWalt Cordless Drill"
    seen_upper = False
    for typo in _typos(query, "keyboard"):
        clean, noisy = _edited(query, typo)
        [i] = _differences(clean, noisy)
        assert noisy[i].lower() in KEYBOARD_NEIGHBOURS[clean[i].lower()]
        assert noisy[i].isupper() == clean[i].isupper()
        seen_upper |= clean[i].isupper()
    assert seen_upper  # the case rule was exercised, not just lowercase letters


def test_keyboard_neighbours_are_a_symmetric_qwerty_map() -> None:
    assert sorted(KEYBOARD_NEIGHBOURS) == list(string.ascii_lowercase)
    assert KEYBOARD_NEIGHBOURS["a"] == "qwsz"
    for letter, neighbours in KEYBOARD_NEIGHBOURS.items():
        assert letter not in neighbours
        assert len(set(neighbours)) == len(neighbours)
        assert all(letter in KEYBOARD_NEIGHBOURS[n] for n in neighbours), letter
    assert set(KEYBOARD_NEIGHBOURS["g"]) == set("tyfhvb")


def test_every_operation_changes_the_query_even_ignoring_case() -> None:
    queries = ["AAA bbb", "Aaa", "pvc Pipe", "sss Ss", "LED bulb"]
    for operation in OPERATIONS:
        for query in queries:
            for seed in range(50):
                typo = add_typo(query, random.Random(seed), (operation,))
                if typo is not None:
                    assert typo.text.lower() != query.lower(), (operation, query, seed)


def test_whitespace_and_other_tokens_are_kept_exactly() -> None:
    query = "  garden   hose\tnozzle 50 ft "
    separators = re.split(r"\S+", query)
    for operation in OPERATIONS:
        for seed in range(50):
            typo = add_typo(query, random.Random(seed), (operation,))
            assert typo is not None
            assert re.split(r"\S+", typo.text) == separators
            _edited(query, typo)


def test_digits_units_and_short_tokens_are_never_edited() -> None:
    for query in PROTECTED_QUERIES:
        for seed in range(300):
            typo = add_typo(query, random.Random(seed))
            assert typo is not None
            clean, _ = _edited(query, typo)
            assert clean.isalpha() and len(clean) >= 3
            assert clean.lower() not in UNIT_WORDS
            noisy = typo.text.split()
            for i, token in enumerate(query.split()):
                if any(c.isdigit() for c in token) or token.lower() in UNIT_WORDS:
                    assert noisy[i] == token


def test_protected_tokens_survive_choose_typos() -> None:
    queries = dict(enumerate(PROTECTED_QUERIES))
    for seed in range(100):
        for query_id, typo in choose_typos(queries, rate=1.0, seed=seed).items():
            clean = queries[query_id].split()
            noisy = typo.text.split()
            kept = [i for i, t in enumerate(clean) if not t.isalpha() or t.lower() in UNIT_WORDS]
            assert [noisy[i] for i in kept] == [clean[i] for i in kept]


@pytest.mark.parametrize("query", ["3/4 in 10 ft", "2x4 8 ft", "20v 4 Ah", "ab cd", "", "   "])
def test_query_without_editable_token_gives_none_and_is_skipped(query: str) -> None:
    assert add_typo(query, random.Random(0)) is None
    assert choose_typos({1: query, 2: "garden hose"}, rate=1.0).keys() == {2}


def test_an_operation_that_cannot_apply_gives_way_to_another() -> None:
    for seed in range(50):
        typo = add_typo("aaa", random.Random(seed), ("swap", "deletion"))
        assert typo is not None and typo.operation == "deletion" and typo.text == "aa"
    # swap fits only the second token here, so it is always the one edited
    for typo in _typos("aaa hose", "swap"):
        assert typo.token == 1


def test_operations_are_drawn_uniformly() -> None:
    counts = dict.fromkeys(OPERATIONS, 0)
    for seed in range(2500):
        typo = add_typo("cordless drill", random.Random(seed))
        assert typo is not None
        counts[typo.operation] += 1
    assert all(400 <= n <= 600 for n in counts.values()), counts


def test_same_seed_same_output_different_seed_different_selection() -> None:
    queries = {i: f"cordless drill model {i} with battery" for i in range(200)}
    first = choose_typos(queries, rate=0.5, seed=1)
    assert first == choose_typos(queries, rate=0.5, seed=1)
    other = choose_typos(queries, rate=0.5, seed=2)
    assert first.keys() != other.keys()
    assert 60 <= len(first) <= 140 and 60 <= len(other) <= 140


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rate_is_honoured(seed: int) -> None:
    nouns = ["drill", "hose", "faucet", "lumber", "paint", "shelf", "mower", "ladder"]
    queries = {
        i: f"{nouns[i % len(nouns)]} {i} ft {nouns[(i // 8) % len(nouns)]}" for i in range(2000)
    }
    share = len(choose_typos(queries, rate=0.15, seed=seed)) / len(queries)
    assert 0.12 <= share <= 0.18


def test_rate_zero_and_one() -> None:
    queries = {1: "garden hose", 2: "3/4 in 10 ft", 3: "Ceiling Fan", 4: "60 w 2 pk"}
    assert choose_typos(queries, rate=0.0) == {}
    assert choose_typos(queries, rate=1.0).keys() == {1, 3}


def test_selection_ignores_order_and_the_other_queries() -> None:
    small = {i: f"storage shelf {i}" for i in range(0, 300, 3)}
    large = {i: f"storage shelf {i}" for i in range(300)}
    chosen_small = choose_typos(small, rate=0.3, seed=5)
    chosen_large = choose_typos(large, rate=0.3, seed=5)
    assert chosen_small
    assert chosen_small == {i: t for i, t in chosen_large.items() if i in small}
    reversed_small = dict(reversed(list(small.items())))
    assert choose_typos(reversed_small, rate=0.3, seed=5) == chosen_small


@pytest.mark.parametrize("rate", [-0.01, 1.01, float("nan")])
def test_bad_rate_raises(rate: float) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        choose_typos({1: "garden hose"}, rate=rate)


def test_unknown_or_missing_operation_raises() -> None:
    with pytest.raises(ValueError, match=r"'transpose'.*allowed: deletion, insertion"):
        choose_typos({1: "garden hose"}, rate=0.5, operations=("swap", "transpose"))
    with pytest.raises(ValueError, match="'transpose'"):
        add_typo("garden hose", random.Random(0), ("transpose",))
    with pytest.raises(ValueError, match="empty"):
        add_typo("garden hose", random.Random(0), ())
    with pytest.raises(ValueError, match="sequence of names"):
        choose_typos({1: "garden hose"}, rate=0.5, operations="swap")
