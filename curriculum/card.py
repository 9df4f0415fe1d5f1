"""The dataset card (README.md) of an export: counts, provenance and how to train on it.

The front matter declares one Hugging Face config per dataset, pointing at the Parquet files,
so a pushed repository loads with ``load_dataset(repo, "stage2_mnr")``.
"""

from __future__ import annotations

from typing import Any

import yaml

from curriculum.levels import LEVEL_OF_SET

__all__ = ["render_card"]

_LOSSES = {
    "stage1_bce": "`curriculum.losses.BiEncoderBCELoss` (pointwise BCE on scaled cosine)",
    "stage2_mnr": "`losses.MultipleNegativesRankingLoss` with `BatchSamplers.NO_DUPLICATES`",
    "stage3_triplet": "`losses.TripletLoss`",
    "graded": "list-wise / odds-ratio losses (e.g. ROAR's): not a stage of the curriculum",
}
_COLUMNS = {
    "stage1_bce": "query, product, label",
    "stage2_mnr": "anchor, positive, negative",
    "stage3_triplet": "anchor, positive, negative",
    "graded": "query, exact, substitute, complement, irrelevant",
}


def _front_matter(names: list[str]) -> str:
    meta = {
        "language": ["en"],
        "tags": ["sentence-transformers", "dense-retrieval", "e-commerce", "dissent"],
        "task_categories": ["sentence-similarity", "text-retrieval"],
        "configs": [
            {
                "config_name": name,
                "data_files": [
                    {"split": split, "path": f"parquet/{name}/{split}.parquet"}
                    for split in ("train", "validation")
                ],
            }
            for name in names
        ],
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _scalars(data: dict[str, Any] | None) -> list[list[Any]]:
    if not data:
        return []
    return [
        [k, f"{v:.3f}" if isinstance(v, float) else v]
        for k, v in data.items()
        if isinstance(v, int | float | str | bool) or v is None
    ]


def render_card(manifest: dict[str, Any]) -> str:
    """The card for an export's ``manifest`` (see :func:`curriculum.export.export_curriculum`)."""
    build = manifest["build"]
    rows: dict[str, dict[str, int]] = manifest["rows"]
    prov = manifest["provenance"]
    levels = build.get("levels", {})
    names = list(rows)
    out = [_front_matter(names)]
    out.append(
        "# Dissent curriculum\n\n"
        "Graded query–product pairs mined from the disagreement of three retrieval channels, "
        "graded 0–3 by a calibrated model cascade (3 Exact, 2 Substitute, 1 Complement, "
        "0 Irrelevant), and ordered into a curriculum for training a two-tower retriever. "
        "Train the stages in order **1 → 2 → 3**; ending on BCE hurts.\n"
    )
    out.append("## Datasets\n")
    out.append(
        _table(
            ["dataset", "columns", "train", "validation", "loss"],
            [
                [n, _COLUMNS[n], f"{rows[n]['train']:,}", f"{rows[n]['validation']:,}", _LOSSES[n]]
                for n in names
            ],
        )
    )
    aug = build.get("augmented", {})
    out.append(
        f"\nTrain queries with a typo-noisy copy: {aug.get('queries', 0):,} "
        f"({aug.get('examples', 0):,} extra rows, flagged `augmented` in `metadata/`). "
        "Validation is never augmented. Splits are by query"
        + (" and by product" if build.get("splits", {}).get("dropped_crossing_products") else "")
        + f": {build.get('splits', {}).get('queries', {})} queries.\n"
    )
    out.append("## Levels\n")
    names_of = manifest.get("levels", {})
    per_level = levels.get("per_level", {})
    out.append(
        _table(
            ["level", "name", "pairs"],
            [
                [k, names_of.get(k, names_of.get(int(k), "")), f"{v:,}"]
                for k, v in per_level.items()
            ],
        )
    )
    out.append(
        f"\nPromoted (mined as negatives, graded relevant, trained as level-2 positives): "
        f"{levels.get('promoted', {})}. Demoted (mined as positives, graded irrelevant, left "
        f"out): {levels.get('demoted', {})}. Not graded (left out): failed "
        f"{levels.get('failed', 0):,}, unlabelled {levels.get('unlabelled', 0):,}.\n"
    )
    grades = build.get("grades", {})
    if grades:
        total = sum(grades.values()) or 1
        grade_names = {"3": "Exact", "2": "Substitute", "1": "Complement", "0": "Irrelevant"}
        out.append("\n## Label distribution (cascade grades of the mined candidates)\n")
        out.append(
            _table(
                ["grade", "pairs", "share"],
                [
                    [f"{g} {grade_names[g]}", f"{n:,}", f"{n / total:.1%}"]
                    for g, n in grades.items()
                ],
            )
        )
    stages = build.get("per_stage_split", {})
    out.append("\n## Examples per stage and split (including augmented rows)\n")
    out.append(
        _table(
            ["stage", "train", "validation", "unpaired items"],
            [
                [
                    name if name != "graded" else "graded (pairs)",
                    f"{by.get('train', 0):,}",
                    f"{by.get('validation', 0):,}",
                    build.get("stages", {}).get("unpaired", {}).get(name, "-"),
                ]
                for name, by in stages.items()
            ],
        )
    )
    mining = prov.get("mining", {})
    out.append("\n## Provenance\n")
    out.append(
        f"- Mining run {mining.get('run_id')}: channels {mining.get('channels')}, "
        f"{mining.get('queries')} queries over {mining.get('products')} products; "
        f"candidates per set "
        f"{ {k: v for k, v in (mining.get('candidates') or {}).items() if k in LEVEL_OF_SET} }."
    )
    for k, pairs in mining.get("overlap", {}).get("jaccard", {}).items():
        out.append(
            f"- Channel overlap@{k} (Jaccard): "
            + ", ".join(f"{p} {v:.1%}" for p, v in pairs.items())
        )
    out.append(
        f"- Cascade `{prov.get('cascade_id')}`; curriculum build run {manifest['curriculum_run']}."
    )
    for tier in prov.get("tiers", []):
        accept = tier["accept"]
        out.append(
            f"- Tier {tier['tier']}: `{tier['model_id']}`, prompt `{tier['prompt_hash'][:12]}`, "
            f"accept threshold {'last tier' if accept is None else f'{accept:.3f}'}"
        )
    calibration = prov.get("calibration")
    if calibration:
        out.append(
            f"\n### Agreement with human labels (calibration run {calibration['run_id']}, "
            "held-out test split)\n"
        )
        out.append(_table(["metric", "value"], _scalars(calibration.get("cascade_test"))))
        gate = calibration.get("gate") or {}
        out.append(
            f"\nAgreement gate: {'passed' if gate.get('passed') else 'FAILED'} "
            f"(QWK {gate.get('qwk')} vs minimum {gate.get('min_qwk')}). "
            f"Report: {calibration.get('report')}\n"
        )
    else:
        out.append("\nNo calibration run is recorded: agreement with humans is unmeasured.\n")
    out.append(
        "## Train\n\n```python\n"
        "from datasets import load_from_disk\n"
        "from sentence_transformers import (\n"
        "    SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments)\n"
        "from sentence_transformers.training_args import BatchSamplers\n"
        "from sentence_transformers.sentence_transformer import losses\n"
        "from curriculum.losses import BiEncoderBCELoss\n\n"
        "model = SentenceTransformer(...)\n"
        "for name, loss in [\n"
        '    ("stage1_bce", BiEncoderBCELoss(model)),\n'
        '    ("stage2_mnr", losses.MultipleNegativesRankingLoss(model)),\n'
        '    ("stage3_triplet", losses.TripletLoss(model)),\n'
        "]:\n"
        '    data = load_from_disk(f"{EXPORT}/{name}")\n'
        "    args = SentenceTransformerTrainingArguments(\n"
        '        output_dir=f"runs/{name}", batch_sampler=BatchSamplers.NO_DUPLICATES)\n'
        '    SentenceTransformerTrainer(model=model, args=args, train_dataset=data["train"],\n'
        '                               eval_dataset=data["validation"], loss=loss).train()\n'
        "```\n"
    )
    return "\n".join(out) + "\n"
