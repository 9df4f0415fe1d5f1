"""The calibration report from a hand-built CalibrationOutcome: JSON, Markdown and HTML."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from annotator.calibration import ThresholdChoice
from annotator.evaluate import CalibrationOutcome, CascadeEvaluation, Gate, TierEvaluation
from annotator.injection import FlipRate
from annotator.metrics import Agreement
from annotator.report import write_report

RELIABILITY = {
    "bins": [
        {"bin": 2, "count": 3, "confidence": 0.25, "accuracy": 0.4},
        {"bin": 8, "count": 5, "confidence": 0.85, "accuracy": 0.8},
    ],
    "ece": 0.0625,
}
CURVE = [{"coverage": 0.5, "agreement": 0.9}, {"coverage": 1.0, "agreement": 0.7}]


def tier(
    name: str, model_id: str, agreement: Agreement, seconds: float, tokens: float
) -> TierEvaluation:
    return TierEvaluation(
        name=name,
        model_id=model_id,
        isotonic={"xs": [[0.0, 1.0]] * 4, "ys": [[0.0, 1.0]] * 4},
        raw=agreement,
        calibrated=agreement,
        confusion=[[3, 1, 0, 0], [0, 2, 1, 0], [0, 0, 4, 1], [0, 0, 0, 5]],
        reliability_before=RELIABILITY,
        reliability_after=RELIABILITY,
        coverage_curve=CURVE,
        seconds_per_1k=seconds,
        tokens_in_per_1k=tokens,
        tokens_out_per_1k=0.0,
        cost=1.0,
        failures=0,
        model_calls=17,
        cache_hits=0,
    )


def outcome(*, passed: bool, first_name: str = "cross-encoder") -> CalibrationOutcome:
    first = tier(
        first_name,
        "cross:model",
        Agreement(
            n=20, graded=18, coverage=0.9, exact=0.6125, within_one=0.875, qwk=0.71234, alpha=None
        ),
        1234.56,
        98765.4,
    )
    second = tier(
        "gemma",
        "llama:gemma",
        Agreement(n=20, graded=20, coverage=1.0, exact=0.5, within_one=0.95, qwk=None, alpha=0.25),
        4.0,
        12.0,
    )
    cascade = CascadeEvaluation(
        test=Agreement(
            n=20, graded=20, coverage=1.0, exact=0.65, within_one=0.9, qwk=0.8, alpha=0.7
        ),
        confusion=[[2, 0, 0, 0], [0, 3, 0, 0], [0, 1, 6, 0], [0, 0, 2, 6]],
        decided_share={first_name: 0.75, "gemma": 0.25},
        cost_share_of_top_tier=0.3125,
        per_1k_pairs_seconds=2.5,
    )
    return CalibrationOutcome(
        prompt_version="0123456789abcdef0123",
        splits={
            "calibration": {"pairs": 1234, "queries": 56},
            "test": {"pairs": 20, "queries": 3},
        },
        budget=0.5,
        thresholds=[0.8125],
        tiers=[first, second],
        cascade=cascade,
        choice=ThresholdChoice([0.8125], 0.7, 0.3125, [0.75, 0.25]),
        gate=Gate(min_qwk=0.85, qwk=0.8, passed=passed),
        injection={first_name: FlipRate(pairs=2, compared=6, flip_rate=0.5, flipped_to_exact=0.25)},
        calibration_ids=[7, 8],
    )


# Rendering draws four matplotlib figures (most of the time here): two reports for the module.
@pytest.fixture(scope="module")
def passed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_report(outcome(passed=True), tmp_path_factory.mktemp("passed") / "report")


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A failed gate, a tier named like a script, and no injection measured."""
    report = outcome(passed=False, first_name="<script>alert(1)</script>")
    report.injection = {}
    return write_report(report, tmp_path_factory.mktemp("failed"))


def test_json_holds_every_figure(passed: dict[str, Path]) -> None:
    directory = passed["json"].parent
    assert directory.name == "report"
    assert passed == {
        "json": directory / "report.json",
        "markdown": directory / "report.md",
        "html": directory / "report.html",
    }
    data = json.loads(passed["json"].read_text())
    assert data["thresholds"] == [0.8125]
    assert data["budget"] == 0.5
    assert data["calibration_ids"] == [7, 8]
    assert data["gate"] == {"min_qwk": 0.85, "qwk": 0.8, "passed": True}
    assert data["cascade"]["decided_share"] == {"cross-encoder": 0.75, "gemma": 0.25}
    assert data["cascade"]["test"]["exact"] == 0.65
    assert data["tiers"][0]["calibrated"]["qwk"] == 0.71234
    assert data["tiers"][0]["calibrated"]["alpha"] is None
    assert data["tiers"][1]["reliability_after"]["ece"] == 0.0625
    assert data["choice"] == {
        "thresholds": [0.8125],
        "agreement": 0.7,
        "cost_share": 0.3125,
        "decided_share": [0.75, 0.25],
    }
    assert data["injection"] == {
        "cross-encoder": {"pairs": 2, "compared": 6, "flip_rate": 0.5, "flipped_to_exact": 0.25}
    }


def test_markdown_table_rows_and_summary(passed: dict[str, Path]) -> None:
    text = passed["markdown"].read_text()
    lines = text.splitlines()
    # percentages with one decimal, kappa/alpha with three, undefined as "–", seconds with a
    # thousands separator and one decimal, tokens with a separator and no decimals
    assert (
        "| cross-encoder | cross:model | 61.3% | 87.5% | 0.712 | – | 90.0% | 75.0% | 1,234.6 | 98,765 |"
        in lines
    )
    assert (
        "| gemma | llama:gemma | 50.0% | 95.0% | – | 0.250 | 100.0% | 25.0% | 4.0 | 12 |" in lines
    )
    assert (
        "| **cascade** | thresholds 0.812 | 65.0% | 90.0% | 0.800 | 0.700 | 100.0% | 100.0% "
        "| 2.500 | – |" in lines
    )
    assert "Prompt version `0123456789ab`." in text
    assert "calibration 1,234 pairs / 56 queries, test 20 pairs / 3 queries" in text
    # .3125 -> 31.2% (round half to even in the formatting of 31.25), budget .5 -> 50%
    assert "Cascade compute: 31.2% of sending every pair to the top tier (budget 50%)." in lines
    assert "Agreement gate: min QWK 0.850, cascade QWK 0.800 → passed" in lines
    assert "cross-encoder flip rate 50.0% (to Exact 25.0%, n=6)" in text
    assert "**FAILED**" not in text


def test_markdown_says_failed_when_the_gate_failed(failed: dict[str, Path]) -> None:
    lines = failed["markdown"].read_text().splitlines()
    assert "Agreement gate: min QWK 0.850, cascade QWK 0.800 → **FAILED**" in lines
    assert "Prompt injection: not measured (annotation.injection_pairs = 0)." in lines


def test_html_embeds_four_plots_and_escapes_names(failed: dict[str, Path]) -> None:
    page = failed["html"].read_text()
    images = re.findall(r'<img id="plot-(\w+)" alt="\w+" src="data:image/png;base64,([^"]+)"', page)
    assert [name for name, _ in images] == ["reliability", "coverage", "confusion", "decided"]
    for _, data in images:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script>" not in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page
    # the gate line loses its Markdown bold in HTML
    assert "→ FAILED</p>" in page
    assert "<td>cascade</td>" in page
