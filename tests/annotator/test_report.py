"""The calibration report from a hand-built CalibrationOutcome: JSON, Markdown and HTML."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from annotator.metrics import Agreement
from annotator.outcome import (
    CalibrationOutcome,
    CascadeEvaluation,
    Gate,
    PreviousRound,
    TierEvaluation,
)
from annotator.report import outcome_lines, write_report

RELIABILITY = {
    "bins": [
        {"bin": 2, "count": 3, "confidence": 0.25, "accuracy": 0.4},
        {"bin": 8, "count": 5, "confidence": 0.85, "accuracy": 0.8},
    ],
    "ece": 0.0625,
}
CURVE = [{"coverage": 0.5, "agreement": 0.9}, {"coverage": 1.0, "agreement": 0.7}]
WHY = (
    "no route through it beats the chosen one on the calibration folds "
    "(qwk 0.400 at best, against 0.700)"
)


def tier(name: str, model_id: str, calibrated: Agreement, **fields: object) -> TierEvaluation:
    base: dict[str, object] = {
        "name": name,
        "model_id": model_id,
        "isotonic": {"xs": [[0.0, 1.0]] * 4, "ys": [[0.0, 1.0]] * 4},
        "decider": {"objective": "qwk", "cutpoints": (0.5, 1.5, 2.5)},
        "pairs": {"calibration": 60, "test": 20},
        "raw": calibrated,
        "calibrated": calibrated,
        "qwk_interval": None,
        "exact_interval": None,
        "confusion": [[3, 1, 0, 0], [0, 2, 1, 0], [0, 0, 4, 1], [0, 0, 0, 5]],
        "reliability_before": RELIABILITY,
        "reliability_after": RELIABILITY,
        "coverage_curve": CURVE,
        "seconds_per_1k": 4.0,
        "tokens_in_per_1k": 12.0,
        "tokens_out_per_1k": 0.0,
        "cost": 1.0,
        "failures": 0,
        "model_calls": 17,
        "cache_hits": 0,
    }
    return TierEvaluation(**{**base, **fields})  # type: ignore[arg-type]


def outcome(*, passed: bool, first_name: str = "cross-encoder") -> CalibrationOutcome:
    first = tier(
        first_name,
        "cross:model",
        Agreement(n=1500, graded=1350, coverage=0.9, exact=0.6125, within_one=0.875, qwk=0.71234),
        pairs={"calibration": 1234, "test": 1500},
        raw=Agreement(n=1500, graded=1350, coverage=0.9, exact=0.5, within_one=0.8, qwk=0.5),
        qwk_interval=(0.65, 0.7749),
        exact_interval=(0.5, 0.7),
        seconds_per_1k=1234.56,
        cv_score=0.6789,
        cv_score_human=0.5125,  # random products left out: lower (.5125 -> 0.512, half to even)
        random_relevant=0.0125,
        flip_rate=0.5,
    )
    second = tier(
        "gemma",
        "llama:gemma",
        Agreement(n=20, graded=20, coverage=1.0, exact=0.5, within_one=0.95, qwk=None, alpha=0.25),
        cv_score=0.1,
        bypassed=WHY,
    )
    third = tier(
        "qwen",
        "vllm:qwen",
        Agreement(n=20, graded=20, coverage=1.0, exact=0.9, within_one=1.0, qwk=0.95),
        raw=Agreement(n=20, graded=20, coverage=1.0, exact=0.85, within_one=1.0, qwk=0.9),
        cost=10.0,
        cv_score=0.7,
        random_relevant=0.0,
        flip_rate=0.25,
    )
    cascade = CascadeEvaluation(
        route=[first_name, "qwen"],
        thresholds=[0.8125],
        test=Agreement(
            n=1500, graded=1500, coverage=1.0, exact=0.65, within_one=0.9, qwk=0.8, alpha=0.7
        ),
        qwk_interval=(0.75, 0.85),
        exact_interval=(0.6, 0.7),
        confusion=[[2, 0, 0, 0], [0, 3, 0, 0], [0, 1, 6, 0], [0, 0, 2, 6]],
        decided_share={first_name: 0.75, "gemma": 0.0, "qwen": 0.25},
        cost_share_of_top_tier=0.3125,
        per_1k_pairs_seconds=2.5,
        cv_score=0.7,
        cv_score_human=0.6,
        random_relevant=0.0,
        random_pairs=200,
        flip_rate=0.25,
        flip_interval=(0.175, 0.35),
        flip_attacks=100,
    )
    return CalibrationOutcome(
        prompt_version="0123456789abcdef0123",
        objective="qwk",
        splits={
            "calibration": {"pairs": 1234, "queries": 56},
            "test": {"pairs": 1500, "queries": 3},
        },
        budget=0.5,
        tiers=[first, second, third],
        cascade=cascade,
        gate=Gate(
            min_qwk=0.75 if passed else 0.85,
            qwk=0.8,
            max_random_relevant=0.05,
            random_relevant=0.0,
            passed=passed,
        ),
        calibration_ids=[7, 8, 9],
    )


# Rendering draws four matplotlib figures (most of the time here): two reports for the module.
@pytest.fixture(scope="module")
def passed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_report(outcome(passed=True), tmp_path_factory.mktemp("passed") / "report")


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A failed gate and a tier named like a script."""
    return write_report(
        outcome(passed=False, first_name="<script>alert(1)</script>"),
        tmp_path_factory.mktemp("failed"),
    )


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Labels counted per source, and a previous calibration (run 7) on fewer test labels."""
    counted = outcome(passed=True)
    counted.labels = {
        "calibration": {"homedepot": 1000, "review": 200},
        "test": {"homedepot": 1480, "review": 20},
    }
    counted.test_labels = "new"
    before = {"calibration": {"homedepot": 1000}, "test": {"homedepot": 1480}}
    counted.previous = PreviousRound(7, 0.75, 0.6, 1480, before, "old")
    return write_report(counted, tmp_path_factory.mktemp("compared"))


def test_json_holds_every_figure(passed: dict[str, Path]) -> None:
    directory = passed["json"].parent
    assert directory.name == "report"
    assert passed == {
        "json": directory / "report.json",
        "markdown": directory / "report.md",
        "html": directory / "report.html",
    }
    data = json.loads(passed["json"].read_text())
    assert (data["objective"], data["budget"], data["calibration_ids"]) == ("qwk", 0.5, [7, 8, 9])
    assert data["gate"] == {
        "min_qwk": 0.75,
        "qwk": 0.8,
        "max_random_relevant": 0.05,
        "random_relevant": 0.0,
        "passed": True,
    }
    cascade = data["cascade"]
    assert (cascade["route"], cascade["thresholds"]) == (["cross-encoder", "qwen"], [0.8125])
    assert cascade["decided_share"] == {"cross-encoder": 0.75, "gemma": 0.0, "qwen": 0.25}
    assert cascade["test"]["exact"] == 0.65
    assert cascade["qwk_interval"] == [0.75, 0.85]  # tuples become lists
    assert (cascade["random_pairs"], cascade["flip_rate"]) == (200, 0.25)
    first, second, _ = data["tiers"]
    assert first["calibrated"]["qwk"] == 0.71234
    assert first["calibrated"]["alpha"] is None
    assert first["decider"] == {"objective": "qwk", "cutpoints": [0.5, 1.5, 2.5]}
    assert first["pairs"] == {"calibration": 1234, "test": 1500}
    assert (first["bypassed"], second["bypassed"]) == ("", WHY)
    assert second["reliability_after"]["ece"] == 0.0625
    assert second["qwk_interval"] is None and second["flip_rate"] is None


def test_markdown_table_rows_and_summary(passed: dict[str, Path]) -> None:
    text = passed["markdown"].read_text()
    lines = text.splitlines()
    # test pairs with a thousands separator; kappa with three decimals and its interval
    # (.7749 -> 0.775); percentages with one decimal, after a float multiplication by 100
    # (.6125 * 100 = 61.25000000000001 -> 61.3%; .0125 * 100 = 1.25 exactly -> half to even,
    # 1.2%); undefined as "–"; seconds with a separator and one decimal
    assert (
        "| cross-encoder | cross:model | 1,500 | 0.712 [0.650, 0.775] | 61.3% [50.0%, 70.0%] "
        "| 87.5% | 0.500 | 0.679 | 0.512 | 75.0% | 1.2% | 50.0% | 1,234.6 |" in lines
    )
    # a bypassed tier is marked; no intervals: the bare figures
    assert (
        "| gemma (bypassed) | llama:gemma | 20 | – | 50.0% | 95.0% | – | 0.100 | – | 0.0% | – | – "
        "| 4.0 |" in lines
    )
    assert (
        "| qwen | vllm:qwen | 20 | 0.950 | 90.0% | 100.0% | 0.900 | 0.700 | – | 25.0% | 0.0% "
        "| 25.0% | 4.0 |" in lines
    )
    assert (
        "| **cascade** | cross-encoder → qwen | 1,500 | 0.800 [0.750, 0.850] "
        "| 65.0% [60.0%, 70.0%] | 90.0% | – | 0.700 | 0.600 | 100.0% | 0.0% | 25.0% [17.5%, 35.0%] "
        "| 2.500 |" in lines
    )
    assert "Prompt version `0123456789ab`; objective **qwk**." in text
    assert "calibration 1,234 pairs / 56 queries, test 1,500 pairs / 3 queries" in text
    # .8125 -> 0.812 (round half to even, exact in binary); .3125 -> 31.2%; budget .5 -> 50%
    assert (
        "Route: cross-encoder → qwen (thresholds 0.812); cross-validated qwk 0.700 (0.600 on the "
        "pairs a person graded). Compute: "
        "31.2% of sending every pair to the top tier (budget 50%)." in lines
    )
    assert f"Bypassed: gemma: {WHY}." in lines
    assert (
        "Random catalog products for the test queries graded relevant (>= 2): 0.0% of 200 "
        "(no label needed: nearly all are unrelated)." in lines
    )
    assert any(
        line.startswith(
            "Prompt injection: cascade flip rate 25.0% [17.5%, 35.0%] (Wilson 95%) over 100 attacks"
        )
        for line in lines
    )
    assert (
        "Agreement gate: min QWK 0.750, cascade QWK 0.800; at most 5.0% random products "
        "relevant, cascade 0.0% → passed" in lines
    )
    assert "**FAILED**" not in text


def test_markdown_says_failed_when_the_gate_failed(failed: dict[str, Path]) -> None:
    lines = failed["markdown"].read_text().splitlines()
    assert (
        "Agreement gate: min QWK 0.850, cascade QWK 0.800; at most 5.0% random products "
        "relevant, cascade 0.0% → **FAILED**" in lines
    )


def test_html_embeds_four_plots_and_escapes_names(failed: dict[str, Path]) -> None:
    page = failed["html"].read_text()
    images = re.findall(r'<img id="plot-(\w+)" alt="\w+" src="data:image/png;base64,([^"]+)"', page)
    assert [name for name, _ in images] == ["reliability", "coverage", "confusion", "decided"]
    for _, data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script>" not in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt; → qwen</td>" in page
    assert "<td>gemma (bypassed)</td>" in page
    assert f"<p>Bypassed: gemma: {WHY}.</p>" in page
    # the gate line loses its Markdown bold in HTML
    assert "→ FAILED</p>" in page
    assert "<td>cascade</td>" in page


def test_labels_by_source_and_the_previous_round_in_every_format(
    compared: dict[str, Path], passed: dict[str, Path]
) -> None:
    data = json.loads(compared["json"].read_text())
    assert data["labels"]["test"] == {"homedepot": 1480, "review": 20}
    assert data["previous"] == {
        "run_id": 7,
        "qwk": 0.75,
        "exact": 0.6,
        "test_pairs": 1480,
        "labels": {"calibration": {"homedepot": 1000}, "test": {"homedepot": 1480}},
        "test_labels": "old",
    }
    labels = (
        "Human labels by source: calibration: 1,200 labels (homedepot 1,000; review 200), test: "
        "1,500 labels (homedepot 1,480; review 20); the calibration split adds 34 random catalog "
        "products taken as Irrelevant."
    )
    # .8 - .75 = .05000000000000004 -> +0.050; .65 - .6 -> +5.0 points
    rounds = (
        "Before and after (against run 7, the previous succeeded calibration): cascade test QWK "
        "0.800 (run 7: 0.750, +0.050), exact 65.0% (run 7: 60.0%, +5.0 points); 1,500 test "
        "labels (run 7: 1,480; +20 review), 1,200 calibration labels (run 7: 1,000; +200 "
        "review). The test labels changed since run 7: the cascade and its yardstick both "
        "moved, so this is a before/after, not a controlled comparison."
    )
    lines = compared["markdown"].read_text().splitlines()
    assert lines[lines.index(labels) : lines.index(labels) + 3] == [labels, "", rounds]
    page = compared["html"].read_text()
    assert f"<p>{labels}</p><p>{rounds}</p>" in page
    # an outcome without counts (an older caller) has neither paragraph
    assert "Human labels by source" not in passed["markdown"].read_text()


def test_outcome_lines_say_where_labels_came_from_and_what_moved() -> None:
    counted = outcome(passed=True)
    counted.labels = {"calibration": {"review": 1234}, "test": {"review": 1500}}
    lines = outcome_lines(counted)
    assert lines[-3:] == [
        "Human labels by source: calibration: 1,234 labels (review 1,234), test: 1,500 labels "
        "(review 1,500).",
        "Before and after: no earlier succeeded calibration to compare with.",
        "agreement gate: passed",
    ]
    assert not any("Human labels" in line for line in outcome_lines(outcome(passed=True)))
