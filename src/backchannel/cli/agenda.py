"""``backchannel agenda``: propose and ratify the agenda on a running service.

:func:`agenda_version_of` finds the latest proposed version in the visible log
(``send`` and ``reframe`` use it for proposals).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli import render
from backchannel.cli._common import (
    DEFAULT_SERVER,
    KeyFile,
    Server,
    Track,
    connect,
    execute,
    out,
    read_json_object,
    run,
)
from backchannel.domain import Agenda
from backchannel.errors import NotFoundError
from backchannel.protocol.wire import agenda_digest
from backchannel.sdk import BackchannelClient

__all__ = ["agenda_app", "agenda_version_of"]

agenda_app = typer.Typer(help="Propose and ratify the agenda.", no_args_is_help=True)


def agenda_version_of(client: BackchannelClient, track: str) -> int:
    """The latest agenda version proposed on ``track`` (NotFoundError if none)."""
    versions = [
        int(render.inner(e).get("agenda", {}).get("version", 0))
        for e in client.log.events(track)
        if e["signed"]["event"]["type"] == "agenda.proposed"
    ]
    if not versions:
        raise NotFoundError(f"track {track!r} has no agenda yet: pass --agenda-version")
    return max(versions)


@agenda_app.command("propose")
def agenda_propose(
    file: Annotated[Path, typer.Argument(help="The agenda, a JSON file ({'version', 'issues'}).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Propose an agenda version (mediator principal).

    The file is a JSON object {"version": 1, "issues": [...]}; each issue has a "name" and a
    "type": "number" (with "unit", "min", "max" and an optional "step"), "one_of" (with
    "options"), "boolean", "date" (optional "earliest", "latest") or "text" (optional
    "max_length"). Example: examples/agenda.json; walkthrough: docs/tutorial.md.
    """

    def body() -> None:
        agenda = Agenda.from_dict(read_json_object(file, "the agenda"))
        execute(server, key_file, track, "propose_agenda", {"agenda": agenda.to_dict()})
        out.print(f"agenda v{agenda.version} digest: {agenda_digest(agenda).hex()}", markup=False)

    run(body)


@agenda_app.command("ratify")
def agenda_ratify(
    version: Annotated[int, typer.Argument(help="The proposed version to ratify.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Ratify a proposed agenda version (a principal); its digest is computed from the log."""

    def body() -> None:
        with connect(server, key_file) as client:
            proposed = [
                render.inner(e)["agenda"]
                for e in client.log.events(track)
                if e["signed"]["event"]["type"] == "agenda.proposed"
            ]
        found = [a for a in proposed if isinstance(a, Mapping) and a.get("version") == version]
        if not found:
            raise NotFoundError(f"agenda version {version} was not proposed on {track!r}")
        digest = agenda_digest(Agenda.from_dict(found[-1])).hex()
        execute(server, key_file, track, "ratify_agenda", {"version": version, "agenda_digest": digest})

    run(body)
