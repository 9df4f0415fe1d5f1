"""The evaluation report: printable lines with their p-values, JSON and an HTML page."""

from __future__ import annotations

import json
from pathlib import Path

from retriever.evaluation import Evaluation, ModelScores
from retriever.report import summary_lines, write_evaluation

FIGURES = {"ndcg@10": 0.3, "recall@100": 0.7, "grade0_top10": 0.01, "ndcg@10_judged": 0.86}


def _evaluation() -> Evaluation:
    base = ModelScores("base", "/m/base", FIGURES, {"head": FIGURES})
    human = ModelScores(
        "human", "/m/human", {**FIGURES, "ndcg@10": 0.34}, {"head": FIGURES}, {"ndcg@10": 1.5e-65}
    )
    mixed = ModelScores(
        "mixed",
        "/m/mixed",
        {**FIGURES, "ndcg@10": 0.32},
        {"head": FIGURES},
        {"ndcg@10": 5e-42},
        p_values_against={"human": {"ndcg@10": 1e-11}},
    )
    return Evaluation(2308, 54667, {"head": 682}, [base, human, mixed], run_id=7)


def test_summary_lines_carry_every_p_value() -> None:
    lines = summary_lines(_evaluation())
    assert lines[0] == (
        "base: ndcg@10 0.3000, recall@100 0.7000, grade0_top10 0.0100, ndcg@10_judged 0.8600"
    )
    assert lines[1].endswith("ndcg@10 0.3400, recall@100 0.7000, grade0_top10 0.0100, "
                             "ndcg@10_judged 0.8600 (p 1.5e-65 vs base)")  # fmt: skip
    assert lines[2].endswith("(p 5e-42 vs base, p 1e-11 vs human)")
    assert lines[3] == "2,308 evaluation queries"


def test_the_report_is_json_and_an_html_page(tmp_path: Path) -> None:
    evaluation = _evaluation()
    files = write_evaluation(evaluation, tmp_path / "out" / "eval.json", "dissent evaluate -o x")
    data = json.loads(files["json"].read_text())
    assert data["command"] == "dissent evaluate -o x" and data["run"] == 7
    assert data["models"]["human"]["ndcg@10"] == 0.34
    assert data["p_values_against"] == {"mixed": {"human": {"ndcg@10": 1e-11}}}
    page = files["html"].read_text()
    assert files["html"] == tmp_path / "out" / "eval.html"
    assert "<td>1e-11</td>" in page and "p vs human (ndcg@10)" in page
    assert "data:image/png;base64," in page
    evaluation.files = {k: str(v) for k, v in files.items()}
    assert summary_lines(evaluation)[-1].endswith(f"; report: {files['html']}")
