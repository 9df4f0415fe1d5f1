"""The catalog lexicon on hand-built titles, against expectations worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import StoreError
from miners.lexicon import Lexicon, LexiconRules, build_lexicon
from miners.terms import measurements, terms
from store.catalog import ProductDoc

TITLES = [
    "Simpson Strong-Tie 12-Gauge Angle",
    "Simpson Strong-Tie 18-Gauge Joist Hanger",
    "Simpson Strong-Tie Galvanized Joist Hanger",
    "Delta Vero 1-Handle Shower Only Faucet Trim Kit in Chrome (Valve Not Included)",
    "Delta Lahara 1-Handle Faucet Trim Kit in Stainless (Valve Not Included)",
    "Delta Foundations Single-Handle Kitchen Faucet in Chrome",
    "BEHR Premium Textured DeckOver 1-gal. #SC-141 Tugboat Wood and Concrete Coating",
    "BEHR Premium 1-gal. Deck Coating",
    "Glacier Bay 2-Handle Kitchen Faucet in Brushed Nickel",
    "Glacier Bay Single-Handle Kitchen Faucet with Sprayer",
    "48 in. White Shelf Bracket",
    "Everbilt 12 in. White Shelf Bracket",
]
CONFIG = LexiconRules(min_brand_count=2, min_type_count=2)
# The lexicon, and per title its (brand, product type, attributes).
Derived = tuple[Lexicon, list[tuple[str, str, tuple[str, ...]]]]


@pytest.fixture(scope="module")
def derived() -> Derived:
    products = [ProductDoc(id=i, title=t) for i, t in enumerate(TITLES)]
    lexicon, docs = build_lexicon(products, CONFIG)
    return lexicon, [(d.brand, d.product_type, d.attributes) for d in docs]


def test_terms_canonicalise_measurements_and_plurals() -> None:
    assert terms("DEWALT 20V Drills") == ["dewalt", "20", "volt", "drill"]
    assert terms("60-Watt Batteries") == ["60", "watt", "battery"]
    assert terms("1/2 in. Copper Pipes") == ["1", "2", "inch", "copper", "pipe"]
    assert terms('1-gallon "glass" boxes') == ["1", "gal", "glass", "box"]
    assert terms("") == []


def test_measurements() -> None:
    title = "Whirlpool 1.9 cu. ft. 1000-Watt Microwave, 1-1/4 in. x 10 ft. (2-Pack)"
    assert measurements(title) == ["1 9 cu ft", "1000 watt", "1 1 4 inch", "10 ft", "2 pack"]
    assert measurements("Stanley 2-in-1 Screwdriver A19 Bulb") == []


def test_brands_from_title_prefixes(
    derived: Derived,
) -> None:
    lexicon, docs = derived
    # simpson/simpson strong/simpson strong tie each start 3 titles; "delta vero" starts one
    # (below min_brand_count=2); "behr premium" starts 2; a title starting "48 in." has none.
    assert [d[0] for d in docs] == [
        *["simpson strong tie"] * 3,
        *["delta"] * 3,
        *["behr premium"] * 2,
        *["glacier bay"] * 2,
        "",
        "",
    ]
    assert lexicon.terms["brand"] == [
        "behr", "behr premium", "delta", "glacier", "glacier bay",
        "simpson", "simpson strong", "simpson strong tie",
    ]  # fmt: skip
    assert lexicon.sources == dict.fromkeys(("brand", "product_type", "attributes"), "titles")


def test_types_from_title_suffixes(
    derived: Derived,
) -> None:
    lexicon, docs = derived
    # Parentheses, " in <colour>" and " with ..." are cut; "angle" ends a single title.
    assert [d[1] for d in docs] == [
        "",
        "joist hanger",
        "joist hanger",
        "faucet trim kit",
        "faucet trim kit",
        "handle kitchen faucet",
        "coating",
        "coating",
        "handle kitchen faucet",
        "handle kitchen faucet",
        "white shelf bracket",
        "white shelf bracket",
    ]
    assert lexicon.terms["product_type"] == [
        "bracket", "coating", "faucet", "faucet trim kit", "handle kitchen faucet", "hanger",
        "joist hanger", "kit", "kitchen faucet", "shelf bracket", "trim kit", "white shelf bracket",
    ]  # fmt: skip


def test_attributes_are_measurements_and_colours(
    derived: Derived,
) -> None:
    _, docs = derived
    assert [d[2] for d in docs] == [
        ("12 gauge",),
        ("18 gauge",),
        (),
        ("chrome",),
        ("stainless",),
        ("chrome",),
        ("1 gal",),
        ("1 gal",),
        ("brushed nickel",),
        (),
        ("48 inch", "white"),
        ("12 inch", "white"),
    ]


def test_query_matching_is_leftmost_longest(
    derived: Derived,
) -> None:
    lexicon, _ = derived
    found = lexicon.match("Simpson Strong-Tie joist hangers")
    assert [(" ".join(m.phrase), m.fields) for m in found.matches] == [
        ("simpson strong tie", ("brand",)),
        ("joist hanger", ("product_type",)),
    ]
    assert found.rest == ()
    found = lexicon.match("delta chrome kitchen faucets")
    assert [(" ".join(m.phrase), m.fields) for m in found.matches] == [
        ("delta", ("brand",)),
        ("chrome", ("attributes",)),
        ("kitchen faucet", ("product_type",)),
    ]
    found = lexicon.match("1 gallon deck coating")
    assert [" ".join(m.phrase) for m in found.matches] == ["1 gal", "coating"]
    assert found.rest == ("deck",)
    assert lexicon.match("lawn mower").matches == ()
    assert lexicon.match('"*: -').tokens == ()


def test_structured_fields_are_used_when_present() -> None:
    products = [
        ProductDoc(1, "X100 Drill", brand="DEWALT", product_type="Tools > Cordless Drills",
                   attributes={"voltage": "20V", "battery": "yes"}),
        ProductDoc(2, "Z2 Kit", brand="Ryobi", product_type="Tools > Drill Bit Sets",
                   attributes={"colour": "Green", "count": "2", "notes": "one value of many words"}),
    ]  # fmt: skip
    lexicon, docs = build_lexicon(products)
    assert lexicon.sources == dict.fromkeys(("brand", "product_type", "attributes"), "structured")
    assert [(d.brand, d.product_type, d.attributes) for d in docs] == [
        ("dewalt", "cordless drill", ("20 volt",)),
        ("ryobi", "drill bit set", ("green",)),
    ]
    assert lexicon.terms["product_type"] == [
        "bit set", "cordless drill", "drill", "drill bit set", "set",
    ]  # fmt: skip


def test_save_and_load_round_trip(tmp_path: Path, derived: Derived) -> None:
    lexicon, _ = derived
    lexicon.save(tmp_path / "lexicon.json")
    again = Lexicon.load(tmp_path / "lexicon.json")
    assert again.terms == lexicon.terms and again.sources == lexicon.sources
    assert again.match("delta kitchen faucet") == lexicon.match("delta kitchen faucet")
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(StoreError, match="not a catalog lexicon"):
        Lexicon.load(tmp_path / "bad.json")
    with pytest.raises(StoreError, match="cannot read"):
        Lexicon.load(tmp_path / "missing.json")
