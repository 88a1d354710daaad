"""``backchannel coord``: the coordination log of a mediator running several tracks (issue #12, ADR-0027).

- ``coord dependency add ID --waiter W --on TRACK --kind K --ref R``: W (a track,
  ``track#item`` or ``meeting:x``) waits on TRACK's outcome (``deal_committed``,
  ``escrow_released`` or ``commitment_revealed`` of R).
- ``coord dependency withdraw ID --reason TEXT``: phasing (W no longer needs it).
- ``coord resource add ID --kind person|room|channel [--capacity N]``: N is a
  person's attention budget.
- ``coord book ID --resource R --holder H --start T --end T [--priority N] [--queue]``:
  refused naming the holder, or queued.
- ``coord cancel ID``.
- ``coord status [--json]``: blocked tracks with their reasons, resources with
  their bookings, queues and saturation, the bookings at risk because a booked
  person went offline (ADR-0053), and each deadlock's cycle and suggestions.

``--track`` is the coordination log (``coord-qatar``). Every command has
``--json`` (one JSON document on stdout) and a Rich summary by default; errors
end through :func:`backchannel.cli._common.run`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backchannel.cli._common import DEFAULT_SERVER, KeyFile, Server, Track, connect, out, run
from backchannel.log.records import parse_timestamp
from backchannel.sdk import BackchannelClient

__all__ = ["coord_app", "status_view"]

coord_app = typer.Typer(
    help="Coordinate tracks: dependencies, shared people and rooms, deadlocks (issue #12).",
    no_args_is_help=True,
)
dependency_app = typer.Typer(help="Cross-track dependencies.", no_args_is_help=True)
resource_app = typer.Typer(help="Shared resources: people, rooms, channels.", no_args_is_help=True)
coord_app.add_typer(dependency_app, name="dependency")
coord_app.add_typer(resource_app, name="resource")

Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def _send(
    server: str, key_file: Path, as_json: bool, action: Callable[[BackchannelClient], dict[str, Any]]
) -> None:
    def body() -> None:
        with connect(server, key_file) as client:
            result = action(client)
        if as_json:
            out.print_json(json.dumps(result))
            return
        for event in result["events"]:
            out.print(_event_line(event), markup=False, soft_wrap=True)

    run(body)


def _event_line(event: Mapping[str, Any]) -> str:
    kind = str(event.get("type", "")).removeprefix("coordination.")
    if kind == "deadlock_detected":
        return f"DEADLOCK: {event['cycle']}"
    if kind == "resource_booked":
        blockers = f" behind {', '.join(event['blockers'])}" if event["blockers"] else ""
        what = f"booking {event['booking_id']} of {event['resource']} for {event['holder']}"
        return f"{what}: {event['status']}{blockers}"
    name = next(
        (event[k] for k in ("dependency_id", "booking_id", "resource_id", "deadlock_id") if k in event), ""
    )
    return f"{kind.replace('_', ' ')}: {name}"


@dependency_app.command("add")
def dependency_add(
    dependency_id: Annotated[str, typer.Argument(help="The dependency's id.")],
    waiter: Annotated[str, typer.Option("--waiter", help="Who waits: a track, track#item or meeting:x.")],
    on_track: Annotated[str, typer.Option("--on", help="The track whose outcome it waits for.")],
    kind: Annotated[
        str, typer.Option("--kind", help="deal_committed, escrow_released or commitment_revealed.")
    ],
    ref: Annotated[str, typer.Option("--ref", help="The deal, escrow or commitment id there.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Declare that WAITER proceeds only when the other track records the outcome (mediator staff)."""
    _send(
        server,
        key_file,
        as_json,
        lambda c: c.coordination.declare_dependency(
            track, dependency_id, waiter=waiter, on_track=on_track, kind=kind, ref=ref
        ),
    )


@dependency_app.command("withdraw")
def dependency_withdraw(
    dependency_id: Annotated[str, typer.Argument(help="The dependency's id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (e.g. phased: phase 1 goes ahead).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Withdraw a waiting dependency, e.g. to split a deal into phases."""
    _send(
        server, key_file, as_json, lambda c: c.coordination.withdraw_dependency(track, dependency_id, reason)
    )


@resource_app.command("add")
def resource_add(
    resource_id: Annotated[str, typer.Argument(help="The resource's id, e.g. person:usa/principal.")],
    kind: Annotated[str, typer.Option("--kind", help="person, room or channel.")],
    key_file: KeyFile,
    track: Track,
    capacity: Annotated[
        int, typer.Option("--capacity", help="Sessions at once (a person's attention budget).")
    ] = 1,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Register a shared resource (mediator staff)."""
    _send(
        server,
        key_file,
        as_json,
        lambda c: c.coordination.register_resource(track, resource_id, kind, capacity),
    )


@coord_app.command("book")
def book(
    booking_id: Annotated[str, typer.Argument(help="The booking's id.")],
    resource: Annotated[str, typer.Option("--resource", help="The resource to book.")],
    holder: Annotated[str, typer.Option("--holder", help="Who holds it: a track's session or a meeting.")],
    start: Annotated[str, typer.Option("--start", help="UTC, e.g. 2026-03-01T09:00:00.000000Z.")],
    end: Annotated[str, typer.Option("--end", help="UTC, after --start.")],
    key_file: KeyFile,
    track: Track,
    priority: Annotated[int, typer.Option("--priority", help="Higher first in the queue (0 to 1000).")] = 0,
    queue: Annotated[
        bool, typer.Option("--queue", help="Queue it if it does not fit (else refused).")
    ] = False,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Book a resource for a time window; a conflict is refused naming the holder, or queued."""

    def action(client: BackchannelClient) -> dict[str, Any]:
        window = parse_timestamp(start, field="--start"), parse_timestamp(end, field="--end")
        return client.coordination.book(
            track, booking_id, resource=resource, holder=holder, start=window[0], end=window[1],
            priority=priority, queue=queue,
        )  # fmt: skip

    _send(server, key_file, as_json, action)


@coord_app.command("cancel")
def cancel(
    booking_id: Annotated[str, typer.Argument(help="The booking's id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Cancel a booking; queued bookings that now fit are accepted."""
    _send(server, key_file, as_json, lambda c: c.coordination.cancel(track, booking_id))


@coord_app.command("status")
def status(key_file: KeyFile, track: Track, server: Server = DEFAULT_SERVER, as_json: Json = False) -> None:
    """Blocked tracks and why, resources with bookings, queues and saturation, and deadlocks."""

    def body() -> None:
        with connect(server, key_file) as client:
            view = client.coordination.status(track)
        if as_json:
            out.print_json(json.dumps(view))
        else:
            out.print(status_view(view))

    run(body)


def status_view(view: Mapping[str, Any]) -> Group:
    """The Rich rendering of ``GET .../coordination``."""
    parts: list[Any] = [Text(f"coordination log {view['track']} at {view['at']}", style="bold")]
    blocked = Table("blocked", "waiter", "reason", title="Blocked tracks")
    for entry in view["blocked"]:
        for waiter, reason in zip(entry["waiters"], entry["reasons"], strict=True):
            blocked.add_row(Text(entry["track"], style="bold red"), waiter, reason)
    parts.append(blocked if view["blocked"] else Text("no track is blocked", style="green"))
    deps = Table("dependency", "waiter", "on", "status", "reason", title="Dependencies")
    for d in view["dependencies"]:
        met = d["evidence"]
        why = f"met by {met['event_type']} at {met['track']}#{met['log_index']}" if met else d["reason"]
        deps.add_row(d["dependency_id"], d["waiter"], d["on_track"], d["status"], why)
    parts.append(deps)
    resources = Table("resource", "kind", "load", "bookings", "queue", title="Resources")
    for r in view["resources"]:
        full = (
            " SATURATED"
            if r["saturated"]
            else (f" saturated from {r['saturated_from'][0]}" if r["saturated_from"] else "")
        )
        load = Text(f"{r['load']}/{r['capacity']}{full}", style="bold red" if full else "")
        held = ", ".join(f"{b['booking_id']} ({b['holder']})" for b in r["bookings"])
        waiting = ", ".join(f"{b['booking_id']} ({b['holder']}, p{b['priority']})" for b in r["queue"])
        resources.add_row(r["resource_id"], r["kind"], load, held, waiting)
    parts.append(resources)
    risky = [(r, b) for r in view["resources"] for b in r["bookings"] + r["queue"] if b.get("at_risk")]
    for r, b in risky:
        why = f"AT RISK {b['booking_id']} ({r['resource_id']}, {b['holder']}): {b['at_risk_reason']}"
        parts.append(Text(why, style="bold red"))
    for d in view["deadlocks"]:
        advice = "\n".join(f"- {s}" for s in d["suggestions"])
        parts.append(Panel(f"{d['cycle']}\n\n{advice}", title=f"DEADLOCK {d['deadlock_id']}", style="red"))
    if not view["deadlocks"]:
        parts.append(Text("no deadlock", style="green"))
    return Group(*parts)
