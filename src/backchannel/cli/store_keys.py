"""``backchannel store keygen | rotate-key``: the master key and the data keys of encryption at rest.

``store keygen --out FILE`` writes a fresh master key (base64 of 32 random
bytes, mode 0600) and prints its id; ``store rotate-key --data-dir D [--track
T]`` (or ``--store postgresql://...``) gives one track (or every track) a new
data key: later writes use it and older rows still open (ADR-0057). The master key is read from
``--master-key-file``, ``BACKCHANNEL_MASTER_KEY_FILE`` or ``BACKCHANNEL_MASTER_KEY``.
Nothing here prints a key, only its id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli._common import DataDir, out, run
from backchannel.cli.store import store_app
from backchannel.service.config import Settings
from backchannel.service.encryption import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    create_master_key,
    rotate_data_keys,
)

__all__ = ["store_app"]

# the commands join the one `store` group (cli/store.py), which main.py registers

MasterKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--master-key-file",
        help=f"The master key file (default: ${MASTER_KEY_FILE_ENV}, or the key in ${MASTER_KEY_ENV}).",
    ),
]


@store_app.command("keygen")
def store_keygen(
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Master key file to create (mode 0600).")],
) -> None:
    """Create a master key file for encryption at rest (never overwrites one)."""

    def body() -> None:
        key_id = create_master_key(out_file)
        out.print(f"master key {key_id} written to {out_file}", soft_wrap=True, markup=False)
        out.print("keep a copy apart from the data: without it the data cannot be read", markup=False)

    run(body)


@store_app.command("rotate-key")
def store_rotate_key(
    data_dir: DataDir = None,
    track: Annotated[
        str | None, typer.Option("--track", "-t", help="The track (default: every track).")
    ] = None,
    master_key_file: MasterKeyFile = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="BACKCHANNEL_STORE",
            help="A postgresql://user@host:port/database store (default: SQLite in --data-dir).",
        ),
    ] = None,
) -> None:
    """Give a track (or every track) a new data key; older entries stay readable."""

    def body() -> None:
        settings = Settings.embedded(data_dir, master_key_file=master_key_file, store_url=store)
        rotated = rotate_data_keys(settings, track)
        for name, version in rotated:
            out.print(f"track {name}: new data key v{version}", soft_wrap=True, markup=False)
        if not rotated:
            out.print("no tracks: nothing to rotate", markup=False)

    run(body)
