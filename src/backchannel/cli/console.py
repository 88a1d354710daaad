"""``backchannel console``: print a one-time sign-in link to the service's web console (ADR-0047).

The link carries a short-lived token signed by your key
(:meth:`BackchannelClient.console_link <backchannel.sdk.client.BackchannelClient.console_link>`);
your private key never reaches the browser. Open the link once, before it
expires: the service exchanges it for an HttpOnly session cookie.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import typer

from backchannel.cli._common import (
    DEFAULT_SERVER,
    Json,
    KeyFile,
    Server,
    Track,
    connect,
    out,
    print_json,
    run,
)
from backchannel.protocol.console_token import DEFAULT_LIFETIME, MAX_LIFETIME

__all__ = ["console_app"]

console_app = typer.Typer()


@console_app.command("console")
def console(
    track: Track,
    key_file: KeyFile,
    server: Server = DEFAULT_SERVER,
    lifetime: Annotated[
        int,
        typer.Option(
            "--lifetime",
            min=1,
            max=int(MAX_LIFETIME.total_seconds()),
            help="Seconds the link stays valid (it works once).",
        ),
    ] = int(DEFAULT_LIFETIME.total_seconds()),
    as_json: Json = False,
) -> None:
    """Print a one-time link that signs you in to the console of --server (as your member in --track)."""

    def body() -> None:
        with connect(server, key_file) as client:
            link = client.console_link(track, timedelta(seconds=lifetime))
            member = client.member
        if as_json:
            print_json({"link": link, "member": member, "track": track, "expires_in": lifetime})
            return
        out.print(f"console sign-in link for {member} (valid {lifetime} s, once):", markup=False)
        print(link)

    run(body)
