"""The dataset card rendered from a hand-written manifest (the shape export._write_export makes)."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from curriculum.card import render_card
from curriculum.levels import LEVELS

MANIFEST: dict[str, Any] = {
    "curriculum_run": 42,
    "build": {
        "run_id": 42,
        "levels": {
            "per_level": {"1": 12345, "2": 678, "3": 9, "4": 0, "5": 1000},
            "promoted": {"hard_negative": 3},
            "demoted": {"easy_positive": 2},
            "failed": 1500,
            "unlabelled": 7,
        },
        "stages": {"per_stage": {}, "unpaired": {"stage2_mnr": 11}},
        "splits": {
            "queries": {"train": 90, "validation": 10},
            "examples": {},
            "dropped_crossing_products": 4,
        },
        "per_stage_split": {
            "stage1_bce": {"train": 23456, "validation": 789},
            "stage2_mnr": {"train": 1200, "validation": 30},
            "graded": {"train": 5, "validation": 0},
        },
        "augmented": {"queries": 1234, "examples": 5678},
        "grades": {"3": 300, "2": 100, "1": 50, "0": 50},
    },
    "rows": {
        "stage1_bce": {"train": 23456, "validation": 789},
        "stage2_mnr": {"train": 1200, "validation": 30},
        "stage3_triplet": {"train": 0, "validation": 0},
        "graded": {"train": 5, "validation": 0},
    },
    "provenance": {
        "mining": {
            "run_id": 3,
            "channels": ["bm25", "dense", "catalog"],
            "queries": 100,
            "products": 5000,
            "candidates": {"easy_positive": 10, "hard_negative": 20, "consensus": 99},
            "overlap": {"jaccard": {"10": {"bm25/dense": 0.25, "bm25/catalog": 0.125}}},
        },
        "cascade_id": "abcdef0123456789",
        "annotate_run": 5,
        "calibration": {
            "run_id": 4,
            "status": "finished",
            "linked": True,
            "cascade_test": {"exact": 0.6125, "qwk": 0.8, "pairs": 120, "note": "held out"},
            "gate": {"passed": True, "qwk": 0.8, "min_qwk": 0.5},
            "report": "work/reports/calibration/report.html",
        },
        "tiers": [
            {
                "tier": 1,
                "model_id": "cross:model",
                "prompt_hash": "0123456789abcdef",
                "accept": 0.8125,
            },
            {
                "tier": 2,
                "model_id": "llama:gemma",
                "prompt_hash": "fedcba9876543210",
                "accept": None,
            },
        ],
    },
    "levels": LEVELS,
}


def manifest(**provenance: Any) -> dict[str, Any]:
    out = copy.deepcopy(MANIFEST)
    out["provenance"].update(provenance)
    return out


def test_front_matter_declares_one_config_per_dataset() -> None:
    card = render_card(MANIFEST)
    assert card.startswith("---\n")
    front = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in front["configs"]] == [
        "stage1_bce",
        "stage2_mnr",
        "stage3_triplet",
        "graded",
    ]
    assert front["configs"][1]["data_files"] == [
        {"split": "train", "path": "parquet/stage2_mnr/train.parquet"},
        {"split": "validation", "path": "parquet/stage2_mnr/validation.parquet"},
    ]
    assert front["language"] == ["en"]
    assert "sentence-transformers" in front["tags"]


def test_tables_use_thousands_separators() -> None:
    lines = render_card(MANIFEST).splitlines()
    assert (
        "| stage1_bce | query, product, label | 23,456 | 789 | "
        "`retriever.losses.BiEncoderBCELoss` (pointwise BCE on scaled cosine) |" in lines
    )
    assert "| stage3_triplet | anchor, positive, negative | 0 | 0 | `losses.TripletLoss` |" in lines
    # levels: string keys from the build report, names from LEVELS (int keys)
    assert "| 1 | easy positives | 12,345 |" in lines
    assert "| 5 | random negatives | 1,000 |" in lines
    # label distribution: 300 of 500 = 60.0%, 100 -> 20.0%, 50 -> 10.0%
    assert "| 3 Exact | 300 | 60.0% |" in lines
    assert "| 2 Substitute | 100 | 20.0% |" in lines
    assert "| 0 Irrelevant | 50 | 10.0% |" in lines
    # stages: graded is renamed, a stage without unpaired items shows "-"
    assert "| stage1_bce | 23,456 | 789 | - |" in lines
    assert "| stage2_mnr | 1,200 | 30 | 11 |" in lines
    assert "| graded (pairs) | 5 | 0 | - |" in lines


def test_counts_in_the_text() -> None:
    card = render_card(MANIFEST)
    assert "Train queries with a typo-noisy copy: 1,234 (5,678 extra rows" in card
    assert "Splits are by query and by product: {'train': 90, 'validation': 10} queries." in card
    assert "Not graded (left out): failed 1,500, unlabelled 7." in card
    assert "Promoted (mined as negatives, graded relevant, trained as level-2 positives): " in card
    assert "{'hard_negative': 3}" in card and "{'easy_positive': 2}" in card


def test_provenance_lines() -> None:
    lines = render_card(MANIFEST).splitlines()
    # "consensus" is not a level's set, so it is left out of the per-set counts
    assert (
        "- Mining run 3: channels ['bm25', 'dense', 'catalog'], 100 queries over 5000 products; "
        "candidates per set {'easy_positive': 10, 'hard_negative': 20}." in lines
    )
    assert "- Channel overlap@10 (Jaccard): bm25/dense 25.0%, bm25/catalog 12.5%" in lines
    assert "- Cascade `abcdef0123456789` (annotate run 5); curriculum build run 42." in lines
    assert (
        "- Tier 1: `cross:model`, prompt `0123456789ab`, accept threshold 0.812" in lines
    )  # 0.8125 -> 0.812 (half to even)
    assert "- Tier 2: `llama:gemma`, prompt `fedcba987654`, accept threshold last tier" in lines


def test_agreement_section_with_a_passed_gate() -> None:
    card = render_card(MANIFEST)
    lines = card.splitlines()
    assert "### Agreement with human labels (calibration run 4, held-out test split)" in lines
    # floats with three decimals, ints and strings as they are
    assert "| exact | 0.613 |" in lines
    assert "| qwk | 0.800 |" in lines
    assert "| pairs | 120 |" in lines
    assert "| note | held out |" in lines
    assert (
        "Agreement gate: passed (QWK 0.8 vs minimum 0.5). "
        "Report: work/reports/calibration/report.html" in lines
    )
    assert "No calibration run is recorded" not in card


def test_agreement_gate_failed() -> None:
    card = render_card(
        manifest(
            calibration={
                "run_id": 9,
                "cascade_test": None,
                "gate": {"passed": False, "qwk": 0.1, "min_qwk": 0.5},
                "report": None,
            }
        )
    )
    assert "Agreement gate: FAILED (QWK 0.1 vs minimum 0.5). Report: None" in card.splitlines()


def test_no_calibration_recorded() -> None:
    card = render_card(manifest(calibration=None, tiers=[]))
    assert "No calibration run is recorded: agreement with humans is unmeasured." in card
    assert "Agreement gate" not in card
    assert "- Tier " not in card


def test_without_grades_there_is_no_label_distribution_and_splits_are_by_query_only() -> None:
    bare = copy.deepcopy(MANIFEST)
    bare["build"]["grades"] = {}
    bare["build"]["splits"]["dropped_crossing_products"] = 0
    card = render_card(bare)
    assert "## Label distribution" not in card
    assert "Splits are by query: {'train': 90, 'validation': 10} queries." in card
    assert card.endswith("```\n\n")
