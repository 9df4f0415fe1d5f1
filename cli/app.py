"""The ``dissent`` command line: the root command, its error handling, and every command group.

User mistakes (bad input files, bad config, an unreachable store) print one line and exit 1,
never a traceback; ``--verbose`` shows the library's log. Long steps show progress.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from rich.logging import RichHandler
from rich.text import Text

from cli.annotate import annotate_app, calibrate_command
from cli.common import err, out
from cli.curriculum import curriculum_app, export_command
from cli.info import config_app, prompts_app, status
from cli.ingest import ingest_app
from cli.mining import mine_command
from cli.retriever import evaluate_command, train_command
from cli.review import review_app
from cli.run import run_command
from core.chatter import quiet_third_parties
from core.errors import DissentError

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
app.add_typer(ingest_app, name="ingest")
app.add_typer(config_app, name="config")
app.add_typer(prompts_app, name="prompts")
app.command("mine")(mine_command)
app.add_typer(annotate_app, name="annotate")
app.command("calibrate")(calibrate_command)
app.add_typer(curriculum_app, name="curriculum")
app.command("export")(export_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("run")(run_command)
app.add_typer(review_app, name="review")
app.command("status")(status)


def _version(show: bool) -> None:
    if show:
        import importlib.metadata

        try:
            version = importlib.metadata.version("dissent")
        except importlib.metadata.PackageNotFoundError:  # run from a checkout, not installed
            version = "unknown (not installed)"
        out.print(f"dissent {version}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="log progress details and the model libraries' own output"
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    level = logging.INFO if verbose else logging.WARNING
    handler = RichHandler(console=err, show_path=False)
    handler.setLevel(level)  # records that propagate from libraries' own loggers too
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    quiet_third_parties(verbose)


def main() -> None:
    """Console-script entry point (user errors: see ``_UserErrorsAsOneLine``)."""
    app()  # usage errors are handled (and exit 2) inside


if __name__ == "__main__":
    main()
