"""``backchannel keys``: make and show key files, rotate and revoke keys on a running service.

``keys new`` and ``keys show`` work on files only; ``keys rotate`` and
``keys revoke`` (also spelt ``key rotate``) sign commands for a track on
``--server``. Nothing here prints a private key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli import render
from backchannel.cli._common import (
    DEFAULT_SERVER,
    Json,
    KeyFile,
    Server,
    Track,
    execute,
    out,
    print_json,
    run,
)
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair, read_key_file, write_key_file
from backchannel.protocol.wire import enrolment_key

__all__ = ["keys_app"]

keys_app = typer.Typer(help="Create and inspect member keys.", no_args_is_help=True)


@keys_app.command("new")
def keys_new(
    name: Annotated[str, typer.Argument(help="Holder of the keys, e.g. 'usa/alice'.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Key file to create (mode 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing key file.")] = False,
) -> None:
    """Generate an Ed25519 signing key and an X25519 key; print only the public halves."""

    def body() -> None:
        keys = KeyPair.generate(name)
        write_key_file(out_file, keys, overwrite=force)
        out.print(render.public_keys(keys, out_file))

    run(body)


@keys_app.command("show")
def keys_show(key_file: Annotated[Path, typer.Argument(help="A key file.")], as_json: Json = False) -> None:
    """Print the public halves and key ids of a key file (never the private ones)."""

    def body() -> None:
        keys = read_key_file(key_file)
        if as_json:
            print_json(
                {
                    "name": keys.name,
                    "ed25519_key_id": keys.signing.key_id,
                    "ed25519_public": keys.signing.verifying_key.to_text(),
                    "x25519_key_id": keys.agreement.key_id,
                    "x25519_public": keys.agreement.to_text(),
                }
            )
            return
        out.print(render.public_keys(keys, key_file))

    run(body)


@keys_app.command("rotate")
def key_rotate(
    new_key: Annotated[Path, typer.Option("--new-key", help="The key file with the new keys.")],
    key_file: KeyFile,
    track: Track,
    subject: Annotated[str | None, typer.Option("--subject", help="Whose key (default: yours).")] = None,
    old_key_id: Annotated[
        str | None, typer.Option("--old-key-id", help="The key replaced (default: --key's).")
    ] = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Replace a member's key on the service (the old key is revoked)."""

    def body() -> None:
        keys = read_key_file(key_file)
        grant: dict[str, JSONValue] = {
            "subject": subject or keys.name,
            "old_key_id": old_key_id or keys.signing.key_id,
            "new_key": enrolment_key(read_key_file(new_key)),
        }
        execute(server, key_file, track, "rotate_key", grant)

    run(body)


@keys_app.command("revoke")
def key_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id to revoke ('ed25519:…').")],
    subject: Annotated[str, typer.Option("--subject", help="Whose key it is.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Revoke a member's key from now on."""
    run(
        lambda: execute(server, key_file, track, "revoke_key", {"subject": subject, "revoked_key_id": key_id})
    )
