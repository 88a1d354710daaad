"""``backchannel track``, ``party`` and ``member``: tracks, parties and their members.

``track new`` and ``track list`` work on a local data directory; ``track
open``, ``party admit`` and ``member enroll`` sign commands on ``--server``;
``track mine`` lists the tracks on ``--server`` your key belongs to (``--json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from backchannel.cli import render
from backchannel.cli._common import (
    DEFAULT_SERVER,
    DataDir,
    Json,
    KeyFile,
    LogName,
    Server,
    Track,
    connect,
    execute,
    local_log,
    out,
    print_json,
    run,
)
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import read_key_file
from backchannel.protocol.wire import enrolment_key
from backchannel.sdk import BackchannelClient

__all__ = ["member_app", "party_app", "track_app"]

track_app = typer.Typer(
    help="Create and list tracks (local: new, list; on a server: open, mine).", no_args_is_help=True
)
party_app = typer.Typer(help="Admit parties (mediator principal).", no_args_is_help=True)
member_app = typer.Typer(help="Enrol members in your party (a principal).", no_args_is_help=True)


@track_app.command("new")
def track_new(
    track: Annotated[str, typer.Argument(help="Track id, e.g. 'us-iran-nuclear'.")],
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
) -> None:
    """Create an empty track (the data directory and log key are created if needed)."""

    def body() -> None:
        with local_log(data_dir, log_name, create=True) as node:
            info = node.writer.open_track(track)
        out.print(f"created track [bold]{info.track}[/] with origin {info.origin}")
        out.print(f"log key: {info.log_key}", soft_wrap=True, markup=False)

    run(body)


@track_app.command("list")
def track_list(
    data_dir: DataDir = None, log_name: LogName = "backchannel.local", as_json: Json = False
) -> None:
    """List the tracks in the data directory (on a server: `track mine`)."""

    def body() -> None:
        with local_log(data_dir, log_name) as node:
            infos = node.store.list_tracks()
        if as_json:
            print_json(
                [{"track": i.track, "size": i.size, "origin": i.origin, "log_key": i.log_key} for i in infos]
            )
            return
        out.print(render.tracks(infos))

    run(body)


@track_app.command("mine")
def track_mine(
    key_file: KeyFile,
    server: Server = DEFAULT_SERVER,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tracks as one JSON document.")] = False,
) -> None:
    """List the tracks on the service your key is an active member key of, with your role in each."""

    def body() -> None:
        with connect(server, key_file) as client:
            tracks = client.tracks()
        if as_json:
            print_json({"server": server, "tracks": tracks})
            return
        table = Table(title=f"{len(tracks)} track(s) on {server}")
        for column in ("track", "title", "size", "member", "party", "party_kind", "role"):
            table.add_column(column.replace("_", " "))
        for track in tracks:
            table.add_row(
                *(str(track[c]) for c in ("track", "title", "size", "member", "party", "party_kind", "role"))
            )
        out.print(table)

    run(body)


@track_app.command("open")
def track_open(
    track: Annotated[str, typer.Argument(help="Track id, e.g. 'us-iran-nuclear'.")],
    title: Annotated[str, typer.Option("--title", help="The track's title.")],
    key_file: KeyFile,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Open a track on the service; your key becomes the mediator principal's."""

    def body() -> None:
        keys = read_key_file(key_file)
        with BackchannelClient(server, keys.name, keys) as client:
            service_key = client.service_info()["service_key"]
        grant: dict[str, JSONValue] = {
            "title": title,
            "principal_key": enrolment_key(keys),
            "service_key": {**service_key, "expires_at": None},
        }
        execute(server, key_file, track, "open_track", grant)

    run(body)


@party_app.command("admit")
def party_admit(
    party: Annotated[str, typer.Argument(help="Party id, e.g. 'usa'.")],
    principal_key: Annotated[Path, typer.Option("--principal-key", help="The principal's key file.")],
    key_file: KeyFile,
    track: Track,
    kind: Annotated[str, typer.Option("--kind", help="delegation, witness or inspector.")] = "delegation",
    server: Server = DEFAULT_SERVER,
) -> None:
    """Admit a party with its first principal (its public keys are read from its key file)."""

    def body() -> None:
        principal = read_key_file(principal_key)
        grant: dict[str, JSONValue] = {
            "party": party,
            "kind": kind,
            "principal": principal.name,
            "principal_key": enrolment_key(principal),
        }
        execute(server, key_file, track, "admit_party", grant)

    run(body)


@member_app.command("enroll")
def member_enroll(
    new_key: Annotated[Path, typer.Option("--new-key", help="The new member's key file.")],
    key_file: KeyFile,
    track: Track,
    role: Annotated[str, typer.Option("--role", help="principal, delegate or observer.")] = "delegate",
    server: Server = DEFAULT_SERVER,
) -> None:
    """Enrol a member of your party (the member is the new key file's name)."""

    def body() -> None:
        member = read_key_file(new_key)
        grant: dict[str, JSONValue] = {
            "new_member": member.name,
            "role": role,
            "new_key": enrolment_key(member),
        }
        execute(server, key_file, track, "enroll_member", grant)

    run(body)
