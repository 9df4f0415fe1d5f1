"""The ``dissent`` command line: thin wiring over the library.

User mistakes (bad input files, bad config, an unreachable store) print one line and exit 1,
never a traceback; ``--verbose`` shows the library's log. Long steps show progress bars.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from core.errors import ConfigError, DissentError
from flows.config import PipelineConfig, dump_config, load_config

__all__ = ["app", "main"]


class _UserErrorsAsOneLine(typer.core.TyperGroup):
    """The root command: a user error (DissentError) prints one red line and exits 1.

    So does a store connection lost mid-command (a PostgreSQL backend terminated or
    restarted): one line that says so and how to resume, not a traceback.

    In the command rather than around it, so that it holds in-process too
    (``typer.testing.CliRunner().invoke(app, ...)``). Usage errors are no DissentError: exit 2.
    """

    def invoke(self, ctx: Any) -> Any:  # ctx: typer's (vendored, private) click Context
        from sqlalchemy.exc import DBAPIError

        try:
            return super().invoke(ctx)
        except DissentError as exc:
            err.print(Text("error: ", style="bold red") + Text(str(exc)))
            sys.exit(1)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            err.print(
                Text("error: ", style="bold red")
                + Text(
                    f"the connection to the store was lost ({reason}); what was committed "
                    "before is kept and nothing half-written is: run the same command again "
                    "to resume"
                )
            )
            sys.exit(1)


app = typer.Typer(
    name="dissent",
    cls=_UserErrorsAsOneLine,
    help="Graded, curriculum-ordered training data from the disagreement of retrieval systems.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Load a catalog, queries or human labels.", no_args_is_help=True)
config_app = typer.Typer(help="Show the effective pipeline configuration.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(config_app, name="config")
prompts_app = typer.Typer(help="Show the versioned grading prompt.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")
annotate_app = typer.Typer(
    help="Grade mined candidates with the calibrated cascade (train-tier: train a cross-encoder tier).",
    invoke_without_command=True,
)
app.add_typer(annotate_app, name="annotate")
curriculum_app = typer.Typer(
    help="Levels, stages, splits and typo augmentation from the graded candidates.",
    no_args_is_help=True,
)
app.add_typer(curriculum_app, name="curriculum")

# Everything printed holds user text (paths, titles, labels): never read it as rich markup.
err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="pipeline config YAML (default: $DISSENT_CONFIG or built-in)"
    ),
]
MappingOption = Annotated[
    Path, typer.Option("--mapping", "-m", help="dataset mapping YAML (see configs/)")
]
FileArgument = Annotated[
    Path | None, typer.Argument(help="input file (CSV, JSONL or Parquet); default: the mapping's")
]


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log progress details")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False)],
        force=True,
    )
    if not verbose:
        logging.getLogger("alembic").setLevel(logging.WARNING)


def _config(path: Path | None) -> PipelineConfig:
    return load_config(path)


# ------------------------------------------------------------------------------ ingest


def _ingest(kind: str, file: Path | None, mapping_path: Path, config: Path | None) -> None:
    import ingest
    from core.progress import progress_display
    from ingest.mapping import load_mapping
    from store.db import display_url, open_store

    cfg = _config(config)
    mapping = load_mapping(mapping_path)
    engine = open_store(cfg.store_url)
    with progress_display(transient=True):
        if kind == "all":
            reports = ingest.ingest_dataset(engine, mapping, file)
        else:
            reports = [getattr(ingest, f"ingest_{kind}")(engine, mapping, file)]
    for report in reports:
        out.print(report.summary())
        for key, value in report.extra.items():
            out.print(f"  {key}: {value}")
    out.print(f"store: {display_url(cfg.store_url)}")


@ingest_app.command("catalog")
def ingest_catalog(
    mapping: MappingOption, file: FileArgument = None, config: ConfigOption = None
) -> None:
    """Load products; re-ingesting the same file changes nothing."""
    _ingest("catalog", file, mapping, config)


@ingest_app.command("queries")
def ingest_queries(
    mapping: MappingOption, file: FileArgument = None, config: ConfigOption = None
) -> None:
    """Load queries with their frequency segment (head, torso, tail)."""
    _ingest("queries", file, mapping, config)


@ingest_app.command("labels")
def ingest_labels(
    mapping: MappingOption, file: FileArgument = None, config: ConfigOption = None
) -> None:
    """Load human labels, mapped onto the internal 0-3 scale."""
    _ingest("labels", file, mapping, config)


@ingest_app.command("all")
def ingest_all(
    mapping: MappingOption, file: FileArgument = None, config: ConfigOption = None
) -> None:
    """Load every section of a mapping (catalog, queries, labels) in one transaction."""
    _ingest("all", file, mapping, config)


# ------------------------------------------------------------------------------ config


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration (defaults, file, DISSENT_* overrides) as YAML."""
    out.print(dump_config(_config(config)), end="")


# ------------------------------------------------------------------------------ prompts


@prompts_app.command("show")
def prompts_show(
    name: Annotated[str, typer.Option(help="template name (prompts/<name>.j2)")] = "grading",
    query: Annotated[str, typer.Option(help="the query to render")] = "dewalt 20v drill",
    title: Annotated[str, typer.Option(help="the product title to render")] = (
        "DEWALT 20V MAX Cordless 1/2 in. Drill/Driver Kit"
    ),
) -> None:
    """Render a prompt for one (query, product) pair and print its version hash."""
    from prompts import load_prompt

    prompt = load_prompt(name)
    product = {"title": title, "brand": "DEWALT", "product_type": "Cordless Drill"}
    out.print(f"prompt {prompt.name} version {prompt.version}")
    for message in prompt.render(query, product):
        out.print(f"--- {message['role']} ---")
        out.print(message["content"])


# ------------------------------------------------------------------------------ mine


@app.command("mine")
def mine_command(
    config: ConfigOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="mine only the first N queries (by id)")
    ] = None,
) -> None:
    """Retrieve with every channel, store ranks, and sort the disagreement into sets."""
    from core.progress import progress_display
    from miners.mine import mine
    from store.db import open_store

    cfg = _config(config)
    engine = open_store(cfg.store_url)
    with progress_display(transient=True):
        report = mine(engine, cfg, query_limit=limit, index_dir=cfg.workdir / "indexes")
    for line in report.lines():
        out.print(line)


# ------------------------------------------------------------------------------ annotate


@annotate_app.callback()
def annotate_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    run: Annotated[
        int | None, typer.Option("--run", help="mining run (default: the latest)")
    ] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="only this disagreement set (repeatable)")
    ] = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="grade only the first N pairs")
    ] = None,
) -> None:
    """Grade mined candidates with the calibrated cascade."""
    if ctx.invoked_subcommand is not None:
        return
    from annotator.service import annotate
    from core.progress import progress_display
    from store.db import open_store

    cfg = _config(config)
    engine = open_store(cfg.store_url)
    with progress_display(transient=True):
        report = annotate(engine, cfg, mining_run=run, sets=sets, limit=limit)
    for line in report.lines():
        out.print(line)


def _train(config: Path | None, tier: str | None, epochs: int | None, limit: int | None) -> None:
    from annotator.service import train_tier, trainable_tier
    from store.db import open_store

    cfg = _config(config)
    name = trainable_tier(cfg, tier).name
    result = train_tier(open_store(cfg.store_url), cfg, tier, epochs=epochs, limit=limit)
    dev = ", ".join(f"{q:.3f}" for q in result.dev_qwk) or "no dev slice"
    if folded := result.counts.get("dev_folded_in"):
        dev = (
            f"no dev slice: its {folded} pairs were too few to choose on "
            "(tier1_training.min_dev_pairs) and trained too"
        )
    out.print(
        f"tier {name!r} saved to {result.output_dir}: epoch {result.best_epoch} of "
        f"{result.epochs_run} kept (dev QWK per epoch: {dev}); trained on {result.counts} "
        f"in {result.seconds:.0f} s ({result.precision})"
    )


EpochsOption = Annotated[
    int | None, typer.Option(min=1, help="training epochs (default: the tier's training settings)")
]
LimitOption = Annotated[int | None, typer.Option(min=1, help="train on the first N pairs only")]


@annotate_app.command("train-tier")
def train_tier_command(
    tier: Annotated[
        str | None,
        typer.Option(
            "--tier",
            help="the tier to train: its position (1, 2, ...) or name; default the first "
            "cross_encoder tier",
        ),
    ] = None,
    config: ConfigOption = None,
    epochs: EpochsOption = None,
    limit: LimitOption = None,
) -> None:
    """Fine-tune a cross_encoder tier on the tier-training split of the human labels.

    The tier's `training` settings (else annotation.tier1_training) say what it starts from
    (the packaged MiniLM, the packaged Gemma 3 270M, a GGUF or a model folder) and whether it
    trains LoRA adapters or the whole model.
    """
    _train(config, tier, epochs, limit)


@annotate_app.command("train-tier1")
def train_tier1_command(
    config: ConfigOption = None, epochs: EpochsOption = None, limit: LimitOption = None
) -> None:
    """Fine-tune the first cross_encoder tier (same as `train-tier` without --tier)."""
    _train(config, None, epochs, limit)


@app.command("calibrate")
def calibrate_command(
    config: ConfigOption = None,
    report_dir: Annotated[Path | None, typer.Option(help="where to write the report")] = None,
) -> None:
    """Calibrate every tier on human labels and write the agreement report (HTML, MD, JSON)."""
    from annotator.report import outcome_lines
    from annotator.service import calibrate
    from core.progress import progress_display
    from store.db import open_store

    cfg = _config(config)
    with progress_display(transient=True):
        outcome, paths = calibrate(open_store(cfg.store_url), cfg, report_dir)
    for line in outcome_lines(outcome):
        out.print(line)
    for kind, path in paths.items():
        out.print(f"report ({kind}): {path}")


# ------------------------------------------------------------------------------ curriculum


@curriculum_app.command("build")
def curriculum_build_command(
    config: ConfigOption = None,
    run: Annotated[
        int | None, typer.Option("--run", help="mining run (default: the latest)")
    ] = None,
    cascade: Annotated[
        str | None,
        typer.Option("--cascade", help="cascade id (default: the one that annotated the run)"),
    ] = None,
) -> None:
    """Place graded candidates at five levels, build the three stages, split and augment."""
    from curriculum.build import build_curriculum
    from store.db import open_store

    cfg = _config(config)
    report = build_curriculum(open_store(cfg.store_url), cfg, mining_run=run, cascade=cascade)
    for line in report.lines():
        out.print(line)


@app.command("export")
def export_command(
    config: ConfigOption = None,
    run: Annotated[
        int | None, typer.Option("--run", help="curriculum run (default: the latest)")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="default: export.output_dir")
    ] = None,
    push_to_hub: Annotated[
        str | None,
        typer.Option("--push-to-hub", help="also push to this Hugging Face dataset repo"),
    ] = None,
) -> None:
    """Write the curriculum as Hugging Face datasets, Parquet and a dataset card."""
    from curriculum.export import export_curriculum
    from store.db import open_store

    cfg = _config(config)
    report = export_curriculum(
        open_store(cfg.store_url),
        cfg,
        curriculum_run=run,
        output_dir=output,
        hub_repo=push_to_hub or cfg.export.push_to_hub,
    )
    for line in report.lines():
        out.print(line)


# ------------------------------------------------------------------------------ train


@app.command("train")
def train_command(
    config: ConfigOption = None,
    recipes: Annotated[
        list[str] | None,
        typer.Option("--recipe", help="recipe to train (repeatable; default: train.recipes)"),
    ] = None,
    export_dir: Annotated[
        Path | None, typer.Option("--export", help="export folder (default: export.output_dir)")
    ] = None,
) -> None:
    """Train two-tower retrievers on the exported curriculum, and the baselines."""
    from core.progress import progress_display
    from curriculum.config import RECIPES
    from curriculum.train import train_recipes
    from store.db import open_store

    cfg = _config(config)
    unknown = sorted(set(recipes or ()) - set(RECIPES))
    if unknown:
        raise ConfigError(
            f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(RECIPES)}"
        )
    chosen = [r for r in RECIPES if r in set(recipes or ())] or None
    with progress_display(transient=True):
        reports = train_recipes(
            open_store(cfg.store_url), cfg, recipes=chosen, export_dir=export_dir
        )
    for report in reports:
        stages = ", ".join(
            f"{s['data']} {s['examples']:,} ({s['seconds']:.0f} s)" for s in report.stages
        )
        out.print(f"{report.recipe}: {report.model_dir} [{stages}] in {report.seconds:.0f} s")


@app.command("evaluate")
def evaluate_command(
    config: ConfigOption = None,
    models: Annotated[
        list[str] | None,
        typer.Option("--model", help="NAME=PATH (repeatable; default: base + trained recipes)"),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="JSON path (an HTML page beside it)")
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            "--against",
            help="also test the models listed after NAME against it (repeatable; e.g. human)",
        ),
    ] = None,
) -> None:
    """Retrieve from the whole catalog for the held-out evaluation queries and score each model."""
    from core.models import default_model_path
    from core.progress import progress_display
    from curriculum.evaluation import evaluate_models, write_evaluation
    from store.db import open_store

    cfg = _config(config)
    chosen: dict[str, str] = {}
    for item in models or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--model {item!r}: expected NAME=PATH")
        chosen[name] = path
    if not chosen:
        chosen["base"] = cfg.train.base_model or default_model_path()
        trained = Path(cfg.train.output_dir or cfg.workdir / "models")
        for recipe in cfg.train.recipes:
            if (trained / recipe / "final").exists():
                chosen[recipe] = str(trained / recipe / "final")
    with progress_display(transient=True):
        evaluation = evaluate_models(
            open_store(cfg.store_url), cfg, chosen, against=tuple(against or ())
        )
    target = output or cfg.workdir / "reports" / "evaluation.json"
    paths = write_evaluation(evaluation, target, "dissent evaluate " + " ".join(sys.argv[2:]))
    for m in evaluation.models:
        figures = ", ".join(f"{k} {v:.4f}" for k, v in m.overall.items())
        p = m.p_values.get("ndcg@10")
        versus = "".join(
            f", p {v['ndcg@10']:.3g} vs {ref}"
            for ref, v in m.p_values_against.items()
            if v.get("ndcg@10") is not None
        )
        out.print(
            f"{m.name}: {figures}"
            + ("" if p is None else f" (p {p:.3g} vs {evaluation.models[0].name}{versus})")
        )
    out.print(f"{evaluation.queries:,} evaluation queries; report: {paths['html']}")


# ------------------------------------------------------------------------------ run


@app.command("run")
def run_command(
    config: ConfigOption = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", "-m", help="ingest this dataset mapping first")
    ] = None,
    query_limit: Annotated[
        int | None, typer.Option("--query-limit", min=1, help="mine only the first N queries")
    ] = None,
) -> None:
    """Run the whole pipeline as Prefect flows (local API, no server to set up)."""
    from flows.common import quiet_local_api
    from flows.pipeline import outputs_lines, pipeline

    quiet_local_api()
    cfg = _config(config)
    result = pipeline(cfg, str(mapping) if mapping else None, None, query_limit)
    for line in outputs_lines(result):
        out.print(line)


# ------------------------------------------------------------------------------ status


@app.command("status")
def status(config: ConfigOption = None) -> None:
    """Show row counts per table and the latest runs in the store.

    Runs whose process died (killed, machine lost) are marked failed as interrupted first.
    """
    from store.db import display_url, open_store
    from store.ledger import latest_runs, mark_interrupted, table_counts

    cfg = _config(config)
    engine = open_store(cfg.store_url)
    mark_interrupted(engine)
    table = Table(title=f"store {display_url(cfg.store_url)}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in table_counts(engine).items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    runs = Table(title="latest runs")
    for col in ("id", "flow", "status", "started", "counts or error"):
        runs.add_column(col)
    for run in latest_runs(engine, limit=10):
        runs.add_row(
            str(run.id),
            run.flow,
            run.status,
            f"{run.started_at:%Y-%m-%d %H:%M:%S}",
            Text(str(run.counts) if run.status != "failed" else (run.error or "")[:120]),
        )
    out.print(runs)


def main() -> None:
    """Console-script entry point (user errors: see ``_UserErrorsAsOneLine``)."""
    app()  # usage errors are handled (and exit 2) inside


if __name__ == "__main__":
    main()
