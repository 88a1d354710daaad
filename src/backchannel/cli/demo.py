"""``backchannel demo``: a thin adapter over the demo scenes of :mod:`backchannel.demo`.

``demo`` plays the live Doha talks against a real server; ``demo log`` the
foundation demo on the embedded store. The scenes are imported only when asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli._common import (
    out,
    run,
)

__all__ = ["demo_app"]

demo_app = typer.Typer(help="Demonstrations.", invoke_without_command=True)


@demo_app.callback()
def demo(
    ctx: typer.Context,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", "-d", help="Where to put the demo data (emptied first).")
    ] = Path(".demo"),
    serve_after: Annotated[
        bool, typer.Option("--serve", help="Keep the server running after the script, until Ctrl-C.")
    ] = False,
    flash_deadline: Annotated[
        float, typer.Option("--flash-deadline", min=0.5, help="The demo server's flash deadline (s).")
    ] = 3.0,
) -> None:
    """The live Doha talks: a real server on 127.0.0.1, driven through the HTTP API with real keys."""
    if ctx.invoked_subcommand is not None:
        return
    from backchannel.demo.live import run_live_demo  # the demo is only loaded when asked for

    run(lambda: run_live_demo(out, data_dir, serve=serve_after, flash_deadline=flash_deadline))


@demo_app.command("log")
def demo_log(
    data_dir: Annotated[Path, typer.Option("--data-dir", "-d", help="Where to put the demo data.")] = Path(
        ".demo"
    ),
    fresh: Annotated[bool, typer.Option("--fresh/--keep", help="Start from an empty data directory.")] = True,
) -> None:
    """The foundation demo: append signed events, export, verify and print the checkpoint."""
    from backchannel.demo.foundation import run_demo  # the demo is only loaded when asked for

    run(lambda: run_demo(out, data_dir, fresh=fresh))
