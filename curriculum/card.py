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
    "stage1_bce": "`retriever.losses.BiEncoderBCELoss` (pointwise BCE on scaled cosine)",
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


_INTRO = (
    "# Dissent curriculum\n\n"
    "Graded query–product pairs mined from the disagreement of three retrieval channels, "
    "graded 0–3 by a calibrated model cascade (3 Exact, 2 Substitute, 1 Complement, "
    "0 Irrelevant), and ordered into a curriculum for training a two-tower retriever. "
    "Train the stages in order **1 → 2 → 3**; ending on BCE hurts.\n"
)
_TRAIN = (
    "## Train\n\n```python\n"
    "from datasets import load_from_disk\n"
    "from sentence_transformers import (\n"
    "    SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments)\n"
    "from sentence_transformers.training_args import BatchSamplers\n"
    "from sentence_transformers.sentence_transformer import losses\n"
    "from retriever.losses import BiEncoderBCELoss\n\n"
    "model = SentenceTransformer(...)\n"
    "for name, loss in [\n"
    '    ("stage1_bce", BiEncoderBCELoss(model)),\n'
    '    ("stage2_mnr", losses.MultipleNegativesRankingLoss(model)),\n'
    '    ("stage3_triplet", losses.TripletLoss(  # unit-length embeddings: cosine, small margin\n'
    "        model, distance_metric=losses.TripletDistanceMetric.COSINE, triplet_margin=0.1)),\n"
    "]:\n"
    '    data = load_from_disk(f"{EXPORT}/{name}")\n'
    "    args = SentenceTransformerTrainingArguments(\n"
    '        output_dir=f"runs/{name}", batch_sampler=BatchSamplers.NO_DUPLICATES)\n'
    '    SentenceTransformerTrainer(model=model, args=args, train_dataset=data["train"],\n'
    '                               eval_dataset=data["validation"], loss=loss).train()\n'
    "```\n"
)
_GRADE_NAMES = {"3": "Exact", "2": "Substitute", "1": "Complement", "0": "Irrelevant"}


def _datasets(rows: dict[str, dict[str, int]], build: dict[str, Any]) -> list[str]:
    table = _table(
        ["dataset", "columns", "train", "validation", "loss"],
        [
            [n, _COLUMNS[n], f"{r['train']:,}", f"{r['validation']:,}", _LOSSES[n]]
            for n, r in rows.items()
        ],
    )
    aug, splits = build.get("augmented", {}), build.get("splits", {})
    by_product = " and by product" if splits.get("dropped_crossing_products") else ""
    return [
        "## Datasets\n",
        table,
        f"\nTrain queries with a typo-noisy copy: {aug.get('queries', 0):,} "
        f"({aug.get('examples', 0):,} extra rows, flagged `augmented` in `metadata/`). "
        f"Validation is never augmented. Splits are by query{by_product}: "
        f"{splits.get('queries', {})} queries.\n",
    ]


def _levels(levels: dict[str, Any], names_of: dict[Any, str]) -> list[str]:
    table = _table(
        ["level", "name", "pairs"],
        [
            [k, names_of.get(k, names_of.get(int(k), "")), f"{v:,}"]
            for k, v in levels.get("per_level", {}).items()
        ],
    )
    return [
        "## Levels\n",
        table,
        f"\nPromoted (mined as negatives, graded relevant, trained as level-2 positives): "
        f"{levels.get('promoted', {})}. Demoted (mined as positives, graded irrelevant, left "
        f"out): {levels.get('demoted', {})}. Not graded (left out): failed "
        f"{levels.get('failed', 0):,}, unlabelled {levels.get('unlabelled', 0):,}.\n",
    ]


def _grades(grades: dict[str, int]) -> list[str]:
    if not grades:
        return []
    total = sum(grades.values()) or 1
    rows = [[f"{g} {_GRADE_NAMES[g]}", f"{n:,}", f"{n / total:.1%}"] for g, n in grades.items()]
    return [
        "\n## Label distribution (cascade grades of the mined candidates)\n",
        _table(["grade", "pairs", "share"], rows),
    ]


def _stages(build: dict[str, Any]) -> list[str]:
    unpaired = build.get("stages", {}).get("unpaired", {})
    rows = [
        [
            name if name != "graded" else "graded (pairs)",
            f"{by.get('train', 0):,}",
            f"{by.get('validation', 0):,}",
            unpaired.get(name, "-"),
        ]
        for name, by in build.get("per_stage_split", {}).items()
    ]
    return [
        "\n## Examples per stage and split (including augmented rows)\n",
        _table(["stage", "train", "validation", "unpaired items"], rows),
    ]


def _provenance(prov: dict[str, Any], curriculum_run: int) -> list[str]:
    mining = prov.get("mining", {})
    sets = {k: v for k, v in (mining.get("candidates") or {}).items() if k in LEVEL_OF_SET}
    out = [
        "\n## Provenance\n",
        f"- Mining run {mining.get('run_id')}: channels {mining.get('channels')}, "
        f"{mining.get('queries')} queries over {mining.get('products')} products; "
        f"candidates per set {sets}.",
    ]
    for k, pairs in mining.get("overlap", {}).get("jaccard", {}).items():
        overlap = ", ".join(f"{p} {v:.1%}" for p, v in pairs.items())
        out.append(f"- Channel overlap@{k} (Jaccard): {overlap}")
    out.append(
        f"- Cascade `{prov.get('cascade_id')}` (annotate run {prov.get('annotate_run')}); "
        f"curriculum build run {curriculum_run}."
    )
    annotation = prov.get("annotation") or {}
    sample = annotation.get("sample") or {}
    if annotation:
        policy = (
            f"at most {sample.get('per_query') or 'all'} candidates per query"
            + (f", per set {sample['per_set']}" if sample.get("per_set") else "")
            + f", seed {sample.get('seed', 0)}"
            if sample
            else "every candidate"
        )
        limits = ", ".join(
            f"{k} {annotation[k]}" for k in ("sets", "limit", "max_queries") if annotation.get(k)
        )
        out.append(f"- Annotation sample: {policy}" + (f"; {limits}" if limits else "") + ".")
    for tier in prov.get("tiers", []):
        accept = tier["accept"]
        out.append(
            f"- Tier {tier['tier']}: `{tier['model_id']}`, prompt `{tier['prompt_hash'][:12]}`, "
            f"accept threshold {'last tier' if accept is None else f'{accept:.3f}'}"
        )
    return out + _agreement(prov.get("calibration"))


def _agreement(calibration: dict[str, Any] | None) -> list[str]:
    if not calibration:
        return ["\nNo calibration run is recorded: agreement with humans is unmeasured.\n"]
    gate = calibration.get("gate") or {}
    return [
        f"\n### Agreement with human labels (calibration run {calibration['run_id']}, "
        "held-out test split)\n",
        _table(["metric", "value"], _scalars(calibration.get("cascade_test"))),
        f"\nAgreement gate: {'passed' if gate.get('passed') else 'FAILED'} "
        f"(QWK {gate.get('qwk')} vs minimum {gate.get('min_qwk')}). "
        f"Report: {calibration.get('report')}\n",
    ]


def render_card(manifest: dict[str, Any]) -> str:
    """The card for an export's ``manifest`` (see :func:`curriculum.export.export_curriculum`).

    Sections: front matter (one Hugging Face config per dataset), the datasets, the levels,
    the label distribution, examples per stage and split, provenance with the agreement
    figures of the calibration the labels came from, and how to train.
    """
    build = manifest["build"]
    rows: dict[str, dict[str, int]] = manifest["rows"]
    return (
        "\n".join(
            [
                _front_matter(list(rows)),
                _INTRO,
                *_datasets(rows, build),
                *_levels(build.get("levels", {}), manifest.get("levels", {})),
                *_grades(build.get("grades", {})),
                *_stages(build),
                *_provenance(manifest["provenance"], manifest["curriculum_run"]),
                _TRAIN,
            ]
        )
        + "\n"
    )
