"""``backchannel store``: move a data directory's store to PostgreSQL.

``store migrate --from <data-dir> --to postgresql://...`` copies every track
(entries, nodes, checkpoints, annexes, cosignatures, split-view alarms) and the
replay marks, then verifies the copy (:func:`backchannel.service.store_copy.migrate_store`).
Works on a data directory, not a running service: stop the service first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli._common import err, out, run

__all__ = ["store_app"]

store_app = typer.Typer(help="Move the store between SQLite and PostgreSQL.", no_args_is_help=True)


@store_app.command("migrate")
def store_migrate(
    source: Annotated[
        Path,
        typer.Option("--from", help="The data directory whose SQLite store is copied (left unchanged)."),
    ],
    target: Annotated[
        str,
        typer.Option("--to", help="The PostgreSQL store to copy into: postgresql://user@host:port/database."),
    ],
) -> None:
    """Copy every track into PostgreSQL, then verify the copy (same roots and checkpoints, log verifier)."""
    from backchannel.service.store_copy import migrate_store  # loads psycopg: only when asked for

    def body() -> None:
        report = migrate_store(source, target, progress=lambda line: err.print(line, markup=False))
        for track in report.tracks:
            resumed = f", resumed at {track.resumed_at}" if track.resumed_at else ""
            out.print(
                f"{track.track}: {track.size} entries, {track.checkpoints} checkpoints, "
                f"{track.annexes} annexes, {track.cosignatures} cosignatures, "
                f"{track.split_views} split-view alarms, root {track.root.hex()}{resumed}",
                markup=False,
                soft_wrap=True,
            )
        out.print(
            f"OK: {len(report.tracks)} tracks and {report.replay_marks} replay marks copied and verified; "
            f"serve them with: backchannel serve --data-dir {source} --store <the --to URL>",
            markup=False,
            soft_wrap=True,
        )

    run(body)
