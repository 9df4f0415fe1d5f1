"""``dissent review``: serve the labelling and review page, add the people, fill its queue."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.text import Text

from cli.common import ConfigOption, RunOption, err, load, out

__all__ = ["review_app"]

review_app = typer.Typer(
    help=(
        "The labelling and review page: `dissent review` serves it; `add-user` adds a person, "
        "`fill` queues pairs to label."
    ),
)


def _loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a name: it may resolve to anything
        return False


@review_app.callback(invoke_without_command=True)
def serve_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="address to listen on (default: review.host, 127.0.0.1); warns if not loopback",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help="port (default: review.port, 8765)"),
    ] = None,
) -> None:
    """Serve the labelling and review page (until Ctrl-C)."""
    ctx.obj = config  # the subcommands' default config
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from review.app import create_app
    from store.db import open_store

    cfg = load(config)
    host = host or cfg.review.host
    port = port or cfg.review.port
    if not _loopback(host):
        err.print(
            Text("warning: ", style="bold yellow")
            + Text(
                f"listening on {host}, not loopback: anyone who can reach this machine reaches "
                "the page, and tokens and cookies cross the network unencrypted unless a TLS "
                "proxy stands in front"
            )
        )
    app = create_app(open_store(cfg.store_url), cfg)
    shown = f"[{host}]" if ":" in host else host
    out.print(f"serving the review page on http://{shown}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)


def _config(ctx: typer.Context, config: Path | None) -> Path | None:
    """A subcommand's ``-c``, else the one given before it (``dissent review -c X fill``)."""
    return config or ctx.obj


@review_app.command("add-user")
def add_user_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="the person's name (letters, digits, '.', '-', '_')")],
    config: ConfigOption = None,
) -> None:
    """Add a person who labels, and print their token (shown this once)."""
    from review.people import add_reviewer
    from store.db import open_store

    cfg = load(_config(ctx, config))
    token = add_reviewer(open_store(cfg.store_url), name)
    out.print(f"added {name}; their token is shown only now (the store keeps only its hash):")
    out.print(token)


@review_app.command("fill")
def fill_command(
    ctx: typer.Context,
    config: ConfigOption = None,
    n: Annotated[
        int | None, typer.Option("--n", min=1, help="pairs to queue (default: review.target)")
    ] = None,
    strategy: Annotated[
        Literal["active", "stratified", "random"] | None,
        typer.Option("--strategy", help="how to choose them (default: review.strategy)"),
    ] = None,
    run: RunOption = None,
) -> None:
    """Queue pairs of a mining run for people to label."""
    from review.queue import fill_queue
    from store.db import open_store

    cfg = load(_config(ctx, config))
    report = fill_queue(open_store(cfg.store_url), cfg, n, strategy=strategy, mining_run=run)
    for line in report.lines():
        out.print(line)
