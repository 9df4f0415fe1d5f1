"""Turning model output into grade distributions, and refusing what does not parse."""

from __future__ import annotations

import math

import pytest

from annotator.backends.base import (
    Answer,
    ParseError,
    distribution_from_logprobs,
    distribution_from_samples,
    parse_grade,
)


@pytest.mark.parametrize(
    ("text", "grade"),
    [
        ('{"grade": 2}', 2),
        (' {"grade":0}\n', 0),
        ('Sure! {"grade": 3} That is exact.', 3),
        ('{"grade": "1"}', 1),
    ],
)
def test_parse_grade_accepts_json(text: str, grade: int) -> None:
    assert parse_grade(text) == grade


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3", "no JSON object"),
        ('{"score": 2}', "no JSON object with a 'grade'"),
        ('{"grade": 7}', "outside 0-3"),
        ('{"grade": true}', "not an integer"),
        ('{"grade": "high"}', "not an integer"),
        ("", "no JSON object"),
    ],
)
def test_parse_grade_refuses_everything_else(text: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_grade(text)


def test_distribution_from_logprobs_sums_grade_digits_and_renormalises() -> None:
    top = {
        "2": math.log(0.5),
        " 2": math.log(0.1),
        "3": math.log(0.2),
        "1": math.log(0.1),
        "x": math.log(0.1),
    }
    dist = distribution_from_logprobs(top)
    assert sum(dist) == pytest.approx(1.0)
    assert dist[2] == pytest.approx(0.6 / 0.9, rel=1e-4)
    assert dist[3] == pytest.approx(0.2 / 0.9, rel=1e-4)
    assert dist[0] == pytest.approx(1e-6 / (1 + 1e-6), rel=1e-2)  # floored, never exactly 0
    with pytest.raises(ParseError, match="no grade digit"):
        distribution_from_logprobs({"hello": -0.1, "7": -1.0})


def test_distribution_from_samples_is_smoothed_counts() -> None:
    assert distribution_from_samples([2, 2, 3]) == pytest.approx(
        [0.5 / 5, 0.5 / 5, 2.5 / 5, 1.5 / 5]
    )
    with pytest.raises(ParseError):
        distribution_from_samples([])


def test_answer_grade_and_failure() -> None:
    assert Answer([0.1, 0.2, 0.6, 0.1]).grade == 2
    assert Answer([0.4, 0.4, 0.1, 0.1]).grade == 0  # ties go to the lower grade
    failed = Answer.failed("unparseable answer: no JSON", raw="maybe 3?")
    assert failed.grade is None and not failed.ok and failed.raw == "maybe 3?"
