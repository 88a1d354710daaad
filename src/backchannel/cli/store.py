"""``backchannel store``: move a data directory's store to PostgreSQL.

``store migrate --from <data-dir> --to postgresql://...`` copies every track
(entries, nodes, checkpoints, annexes, cosignatures, split-view alarms) and the
replay marks, then verifies the copy (:func:`backchannel.service.store_copy.migrate_store`).
With a master key (``--master-key-file``, ``BACKCHANNEL_MASTER_KEY_FILE`` or
``BACKCHANNEL_MASTER_KEY``) an encrypted source is read and the copy is sealed
(ADR-0057). Works on a data directory, not a running service: stop the service first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli._common import err, out, run

__all__ = ["store_app"]

store_app = typer.Typer(
    help="The store: move it to PostgreSQL; the keys of encryption at rest.", no_args_is_help=True
)


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
    master_key_file: Annotated[
        Path | None,
        typer.Option(
            "--master-key-file",
            help="Read an encrypted source and seal the copy with this master key "
            "(default: $BACKCHANNEL_MASTER_KEY_FILE, or the key in $BACKCHANNEL_MASTER_KEY).",
        ),
    ] = None,
) -> None:
    """Copy every track into PostgreSQL, then verify the copy (same roots and checkpoints, log verifier)."""
    from backchannel.service.store_copy import migrate_store  # loads psycopg: only when asked for
    from backchannel.store.encryption import MasterKeySource

    def body() -> None:
        key = MasterKeySource(path=master_key_file) if master_key_file else MasterKeySource.from_environment()
        report = migrate_store(
            source, target, master_key=key, progress=lambda line: err.print(line, markup=False)
        )
        for track in report.tracks:
            resumed = f", resumed at {track.resumed_at}" if track.resumed_at else ""
            out.print(
                f"{track.track}: {track.size} entries, {track.checkpoints} checkpoints, "
                f"{track.annexes} annexes, {track.cosignatures} cosignatures, "
                f"{track.split_views} split-view alarms, root {track.root.hex()}{resumed}",
                markup=False,
                soft_wrap=True,
            )
        if key is not None:
            out.print(
                f"the copy is encrypted at rest with the master key from {key}", markup=False, soft_wrap=True
            )
        out.print(
            f"OK: {len(report.tracks)} tracks and {report.replay_marks} replay marks copied and verified; "
            f"serve them with: backchannel serve --data-dir {source} --store <the --to URL>",
            markup=False,
            soft_wrap=True,
        )

    run(body)
