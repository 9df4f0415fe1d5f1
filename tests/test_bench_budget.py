"""The label-budget page: one row per model, the curve drawn from the results alone."""

from __future__ import annotations

from pathlib import Path

from bench.budget_page import curve_rows, write_page


def _scores(ndcg: float, p: float | None = None) -> dict:
    overall = {"ndcg@10": ndcg, "judged@10": 0.3, "ndcg@10_condensed": 0.6, "recall@100": 0.7}
    overall["grade0_judged_top10"] = 0.08
    return {
        "overall": overall,
        "intervals": {"ndcg@10": [ndcg - 0.01, ndcg + 0.01]},
        "p_vs_human": {"ndcg@10": p},
    }


def _data() -> dict:
    arms = {}
    scores = {"base": _scores(0.27), "human@all": _scores(0.33)}
    for budget, pairs in ((500, 503), (2000, 2004)):
        arms[f"random@{budget}"] = {
            "drawn": {"pairs": pairs},
            "models": {
                "human": {"chosen": "epochs 4"},
                "dissent": {"recipe": "staged", "stages": ["a", "b", "c"], "kept": 2},
                "human+dissent": {"chosen": "dissent, then human, epochs 1"}
                if budget > 500
                else {},
            },
        }
        for kind, value in (("human", 0.29), ("dissent", 0.30), ("human+dissent", 0.31)):
            scores[f"{kind}@{budget} random"] = _scores(value + budget / 1e5, 0.01)
    return {"command": "python -m bench.budget", "cores": 2, "arms": arms, "scores": scores}


def test_the_table_has_the_references_then_every_arm() -> None:
    rows = curve_rows(_data())
    assert [r[0] for r in rows[:3]] == ["base", "human@all", "human@500 random"]
    assert len(rows) == 2 + 6
    dissent = rows[3]
    assert dissent[1] == "503" and dissent[2] == "0.305 [0.295, 0.315]"
    assert dissent[-1] == "staged: 2 of 3 stages kept" and dissent[-2] == "0.01"
    # human+dissent names the option validation chose (human-hardneg where the results predate
    # the choice)
    assert rows[4][-1] == "human-hardneg" and rows[7][-1] == "dissent, then human, epochs 1"


def test_the_page_is_one_file_with_the_curve(tmp_path: Path) -> None:
    page = tmp_path / "budget.html"
    write_page(_data(), page)
    text = page.read_text()
    assert "data:image/png;base64," in text and text.count("<tr>") == 9
