"""``backchannel obligation``: define, record, show and the ladder timeline (ADR-0018).

- ``obligation define FILE.json`` (mediator principal): the file holds the
  terms (``obligation``, ``party``, ``metric``, ``unit``, ``rate``, ``burst``,
  ``period_seconds``, ``ladder``, ``hold_seconds``, ``recovery_pct``, and
  optionally ``shared_with``).
- ``obligation record ID --amount N --unit U [--observed-at T] [--source S]``
  (an inspector): one consumption record.
- ``obligation show ID``: the terms, level, tokens and next step down.
- ``obligation timeline ID``: the levels over time. It starts with the
  definition at the lowest tier and lists every step up or down, with its
  time, tokens, overdraw and cause. A step up's cause is the consumption
  record: its ``source`` and the command digest. A step down's cause is the
  hold that began at ``held_since``. The timeline ends with the current
  state.

Like the other server commands, these take ``--server``, ``--key`` and
``--track`` (or their environment variables) and end through
:func:`backchannel.cli.main.run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from backchannel.cli._common import (
    DEFAULT_SERVER,
    Json,
    KeyFile,
    Server,
    Track,
    connect,
    out,
    print_json,
    read_json_object,
    run,
)
from backchannel.log.records import parse_timestamp

__all__ = ["obligation_app", "show_table", "timeline_table"]

obligation_app = typer.Typer(help="Obligations metered by token buckets (ADR-0018).", no_args_is_help=True)

_UP = "bold red"
_DOWN = "bold green"


def _terms(path: Path) -> Mapping[str, Any]:
    return read_json_object(path, "the terms")


@obligation_app.command("define")
def obligation_define(
    terms_file: Annotated[Path, typer.Argument(help="A JSON file of the obligation's terms.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Define an obligation (mediator principal).

    The file is a JSON object {"obligation", "party", "metric", "unit", "rate", "burst",
    "period_seconds", "ladder": a list of level names (the first: no escalation), "hold_seconds",
    "recovery_pct", "shared_with": a list of parties}: a bucket of burst tokens refills at rate per
    period; overdrawing steps up the ladder. Example: examples/obligation.json.
    """

    def body() -> None:
        terms = _terms(terms_file)
        with connect(server, key_file) as client:
            result = client.obligations.define(track, terms)
        out.print(
            f"obligation {terms.get('obligation')} defined at index {result['first_index']}", markup=False
        )

    run(body)


@obligation_app.command("record")
def obligation_record(
    obligation: Annotated[str, typer.Argument(help="The obligation id.")],
    amount: Annotated[float, typer.Option("--amount", help="How much was consumed, in the unit.")],
    unit: Annotated[str, typer.Option("--unit", help="The obligation's unit.")],
    key_file: KeyFile,
    track: Track,
    observed_at: Annotated[
        str | None,
        typer.Option("--observed-at", help="UTC, e.g. 2026-03-01T09:00:00.000000Z (default: now)."),
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="What attests it.")] = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Record a consumption against an obligation (an inspector)."""

    def body() -> None:
        when = None if observed_at is None else parse_timestamp(observed_at, field="--observed-at")
        with connect(server, key_file) as client:
            result = client.obligations.record_consumption(
                track, obligation, amount, unit, observed_at=when, source=source
            )
        for event in result["events"]:
            out.print(_event_line(event), markup=False, soft_wrap=True)

    run(body)


def _event_line(event: Mapping[str, Any]) -> str:
    kind = str(event.get("type", ""))
    if kind == "obligation.metered":
        overdraw = "" if event["overdraw"] == "0" else f", OVERDRAW {event['overdraw']}"
        return (
            f"metered {event['amount']} {event['unit']}: tokens {event['available']} -> {event['tokens']}"
            f"{overdraw}; level {event['level']} ({event['tier']})"
        )
    direction = "escalated" if kind == "obligation.escalated" else "deescalated"
    levels = f"{event['from_level']} -> {event['to_level']} ({event['tier']})"
    return f"{direction} {levels} at {event['effective_at']}"


@obligation_app.command("show")
def obligation_show(
    obligation: Annotated[str, typer.Argument(help="The obligation id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """The obligation's terms, current level and tokens."""

    def body() -> None:
        with connect(server, key_file) as client:
            view = client.obligations.get(track, obligation)
        if as_json:
            print_json(view)
            return
        out.print(show_table(view))

    run(body)


@obligation_app.command("timeline")
def obligation_timeline(
    obligation: Annotated[str, typer.Argument(help="The obligation id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """The ladder over time: every step up or down, with its time, tokens and cause."""

    def body() -> None:
        with connect(server, key_file) as client:
            view = client.obligations.get(track, obligation)
        if as_json:
            print_json(view)
            return
        out.print(timeline_table(view))

    run(body)


def show_table(view: Mapping[str, Any]) -> Table:
    """The terms and the current state of an obligation (``GET .../obligations/{id}``)."""
    unit = view["unit"]
    table = Table(title=f"obligation {view['obligation']}", title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("bound party", view["party"]),
        ("metric", f"{view['metric']} ({unit})"),
        ("rate", f"{view['rate']} {unit} per {_duration(view['period_seconds'])}"),
        ("burst", f"{view['burst']} {unit}"),
        ("ladder", " -> ".join(view["ladder"])),
        ("hysteresis", f"hold {_duration(view['hold_seconds'])}, tokens >= {view['recovery_pct']}% of burst"),
        ("shared with", ", ".join(view["shared_with"]) or "-"),
        ("defined", f"{view['defined_at']} by {view['defined_by']}"),
        ("level", f"{view['level']} ({view['tier']})"),
        ("tokens", f"{view['tokens']} {unit} at {view['as_of']}"),
        ("next step down", view["next_step_down"] or "-"),
        ("records", f"{view['records']} ({view['consumed']} {unit}), {view['overdraws']} overdrew"),
    ]
    for name, value in rows:
        table.add_row(name, Text(str(value)))
    return table


def timeline_table(view: Mapping[str, Any]) -> Group:
    """The ladder timeline: levels and steps with times, tokens and the record that caused each step."""
    unit, ladder = view["unit"], view["ladder"]
    table = Table(title=f"obligation {view['obligation']}: ladder timeline", title_justify="left")
    for column in ("time", "step", "level", "tokens", "overdraw", "cause"):
        table.add_column(column, overflow="fold")
    table.add_row(view["defined_at"], "defined", _level(0, ladder), f"{view['burst']} {unit}", "-", "-")
    for step in view["history"]:
        up = step["direction"] == "up"
        arrow = Text(
            f"{'up' if up else 'down'} {step['from_level']} -> {step['to_level']}", style=_UP if up else _DOWN
        )
        if up:
            cause = f"consumption observed {step['observed_at']}; source {step['source'] or '-'}; "
            cause += f"command {step['command_digest'][:16]}"
            overdraw = f"{step['overdraw']} {unit}"
        else:
            held = _since(step["held_since"], step["effective_at"])
            cause = f"within limits for {held} since {step['held_since']}"
            overdraw = "-"
        table.add_row(
            step["effective_at"],
            arrow,
            _level(step["to_level"], ladder),
            f"{step['tokens']} {unit}",
            overdraw,
            cause,
        )
    table.add_row(view["as_of"], "now", _level(view["level"], ladder), f"{view['tokens']} {unit}", "-", "-")
    footer = Text(f"next step down: {view['next_step_down'] or '-'}")
    return Group(table, footer)


def _level(level: int, ladder: list[str]) -> str:
    return f"{level} {ladder[level]}"


def _duration(seconds: int) -> str:
    for size, name in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds % size == 0:
            return f"{seconds // size} {name}"
    return f"{seconds} s"


def _since(start: str, end: str) -> str:
    elapsed = parse_timestamp(end, field="effective_at") - parse_timestamp(start, field="held_since")
    return _elapsed(elapsed.total_seconds())


def _elapsed(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} h"
    return f"{seconds:.1f} s"
