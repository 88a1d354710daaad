"""Forecasts on a live track (ADR-0045): ``backchannel forecast declare | request | show | share``.

Mounted under the ``forecast`` group by :mod:`backchannel.cli.main`. Each
command drives a running service through the SDK (``--server``, ``--key``,
``--track``) and prints a Rich summary, or one JSON document with ``--json``:

- ``declare FILE``: the mediator's private actor positions (a JSON file,
  ``{"issues": [{"issue", "reference"?, "actors": [{"actor", "position" or
  "value", "salience", "capability"}]}]}``; see ``examples/forecast-positions.json``);
- ``request``: compute and record a forecast of the declared issues;
- ``show``: the forecasts this member may see, each with its age and staleness
  (``--declarations``: the positions in force, the mediator only);
- ``share FORECAST_ID --with PARTY``: show a forecast to parties.

This module runs no model (the service does) and imports nothing of ``main``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from backchannel.cli._common import (
    DEFAULT_SERVER,
    KeyFile,
    Server,
    Track,
    connect,
    out,
    read_json_object,
    run,
)
from backchannel.errors import EncodingError

__all__ = ["forecast_live_app"]

forecast_live_app = typer.Typer()

_Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a summary.")]


def _print_json(document: Mapping[str, Any]) -> None:
    out.print(json.dumps(document, indent=2, sort_keys=True), markup=False, soft_wrap=True, highlight=False)


def _value(value: object) -> str:
    return "-" if value is None else f"{float(str(value)):.1f}"


def _forecast_table(forecast: Mapping[str, Any]) -> Table:
    stale = forecast["stale"]
    state = f"[red]STALE since {forecast['stale_since']}[/red]" if stale else "[green]current[/green]"
    title = f"forecast {forecast['forecast_id'][:16]}… recorded {forecast['age']} ago ({state})"
    table = Table(title=title, title_justify="left")
    issues: Sequence[Mapping[str, Any]] = forecast["issues"]
    models = list(issues[0]["answers"]) if issues else []
    for column in ("issue", *models, "spread", "flag"):
        table.add_column(column)
    for issue in issues:
        flag = "[red]models disagree[/red]" if issue["flagged"] else ""
        answers = [_value(issue["answers"][m]) for m in models]
        table.add_row(issue["issue"], *answers, _value(issue["spread"]), flag)
    return table


@forecast_live_app.command("declare")
def declare(
    file: Annotated[Path, typer.Argument(help="The declarations, a JSON file.", dir_okay=False)],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: _Json = False,
) -> None:
    """Declare actors' positions, saliences and capabilities per agenda issue (the mediator; private)."""

    def body() -> None:
        issues = read_json_object(file, "actor positions").get("issues")
        if not isinstance(issues, list):
            raise EncodingError(f"{file}: issues: expected a list of issues")
        with connect(server, key_file) as client:
            result = client.forecasts.declare(track, issues)
        if as_json:
            _print_json(result)
            return
        (event,) = result["events"]
        names = ", ".join(i["issue"] for i in event["issues"])
        out.print(f"declared (private to the mediator): {names}; declaration {event['command_digest']}")

    run(body)


@forecast_live_app.command("request")
def request(key_file: KeyFile, track: Track, server: Server = DEFAULT_SERVER, as_json: _Json = False) -> None:
    """Compute and record a forecast of the declared issues: every model's answer, disagreement flagged."""

    def body() -> None:
        with connect(server, key_file) as client:
            answer = client.forecasts.request(track)
        if as_json:
            _print_json(answer)
            return
        out.print(_forecast_table(answer["forecast"]))
        out.print(f"forecast id: {answer['forecast_id']} (log index {answer['index']})", soft_wrap=True)

    run(body)


@forecast_live_app.command("show")
def show(
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    declarations: Annotated[
        bool, typer.Option("--declarations", help="Show the positions in force instead (the mediator only).")
    ] = False,
    as_json: _Json = False,
) -> None:
    """The forecasts you may see, newest first, each with its age and whether it is stale."""

    def body() -> None:
        with connect(server, key_file) as client:
            document = client.forecasts.declarations(track) if declarations else client.forecasts.list(track)
        if as_json:
            _print_json(document)
        elif declarations:
            _declarations(document)
        elif not document["forecasts"]:
            out.print("no forecast you may see on this track")
        else:
            for forecast in document["forecasts"]:
                out.print(_forecast_table(forecast))

    run(body)


def _declarations(document: Mapping[str, Any]) -> None:
    for issue in document["issues"]:
        table = Table(
            title=f"{issue['issue']} (reference {_value(issue['reference'])})", title_justify="left"
        )
        for column in ("actor", "position 0-100", "value", "salience", "capability"):
            table.add_column(column)
        for a in issue["actors"]:
            row = (
                a["actor"],
                _value(a["position"]),
                "-" if a["value"] is None else f"{a['value']:g}",
                _value(a["salience"]),
                str(a["capability"]),
            )
            table.add_row(*row)
        out.print(table)


@forecast_live_app.command("share")
def share(
    forecast_id: Annotated[str, typer.Argument(help="The forecast's id.")],
    parties: Annotated[list[str], typer.Option("--with", help="A party to show it to (repeat for more).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: _Json = False,
) -> None:
    """Show a forecast (with its age and staleness) to delegations or inspectors (the mediator)."""

    def body() -> None:
        with connect(server, key_file) as client:
            result = client.forecasts.share(track, forecast_id, parties)
        if as_json:
            _print_json(result)
        else:
            out.print(f"forecast {forecast_id} shared with {', '.join(parties)}", soft_wrap=True)

    run(body)
