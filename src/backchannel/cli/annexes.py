"""``backchannel annex``: upload and fetch annexes, plain or sealed to a party.

:func:`upload_annexes` (with the ``--annex`` and ``--seal-to`` options) is what
``send`` uses to attach files to a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli._common import (
    DEFAULT_SERVER,
    KeyFile,
    Server,
    Track,
    connect,
    out,
    read_file,
    run,
)
from backchannel.errors import ConfigurationError
from backchannel.log.canonical import JSONValue
from backchannel.sdk import BackchannelClient

__all__ = ["AnnexFiles", "SealTo", "annex_app", "upload_annexes"]

annex_app = typer.Typer(help="Upload and fetch annexes (sealed or plain).", no_args_is_help=True)

AnnexFiles = Annotated[
    list[Path] | None,
    typer.Option("--annex", help="A file to send alongside, uploaded first (repeat for more)."),
]
SealTo = Annotated[
    str | None,
    typer.Option(
        "--seal-to",
        help="Seal each annex to every active member of this party (one blob per member), "
        "so the mediator relays what it cannot read.",
    ),
]


def upload_annexes(
    client: BackchannelClient, track: str, files: list[Path], seal_to: str | None
) -> list[JSONValue]:
    """Upload each file (sealed to ``seal_to``'s members, if given); return every digest, in order."""
    if seal_to is not None and not files:
        raise ConfigurationError("--seal-to seals annexes: give at least one --annex FILE")
    digests: list[JSONValue] = []
    for path in files:
        data = read_file(path)
        if seal_to is None:
            uploaded = {"(plain)": client.annexes.upload(track, data)}
        else:
            uploaded = {
                f"sealed to {m}": d
                for m, d in client.annexes.upload_sealed(track, data, party=seal_to).items()
            }
        for how, digest in uploaded.items():
            out.print(f"annex {path.name} {how}: {digest}", markup=False, soft_wrap=True)
            digests.append(digest)
    return digests


@annex_app.command("put")
def annex_put(
    files: Annotated[list[Path], typer.Argument(help="The files to upload.")],
    key_file: KeyFile,
    track: Track,
    seal_to: SealTo = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Upload annexes (plain, or sealed to a party) and print their digests, for a message's annexes."""

    def body() -> None:
        with connect(server, key_file) as client:
            upload_annexes(client, track, files, seal_to)

    run(body)


@annex_app.command("get")
def annex_get(
    digest: Annotated[str, typer.Argument(help="The annex's SHA-256 (64 hex digits).")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Where to write it.")],
    key_file: KeyFile,
    track: Track,
    open_it: Annotated[
        bool, typer.Option("--open", help="Open it with your X25519 key (it must be sealed to you).")
    ] = False,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Fetch an annex (its digest is checked); with --open, write what was sealed to you."""

    def body() -> None:
        with connect(server, key_file) as client:
            data = client.annexes.open(track, digest) if open_it else client.annexes.fetch(track, digest)
        try:
            out_file.write_bytes(data)
        except OSError as e:
            raise ConfigurationError(f"cannot write {out_file}: {e.strerror}") from e
        what = "opened" if open_it else "fetched (digest checked)"
        out.print(
            f"annex {digest} {what}: {len(data)} bytes written to {out_file}", markup=False, soft_wrap=True
        )

    run(body)
