"""CLI for inspectors' attestations and escrow (ADR-0017), driving a running service.

Commands (all take ``--server``, ``--key`` and ``--track`` like the others)::

    backchannel metric define METRIC --unit U --inspector P [--inspector P2] --quorum M --tolerance T
    backchannel attest METRIC VALUE --unit U --site S [--observed-at T]
    backchannel escrow open FILE.json
    backchannel escrow sign ID
    backchannel escrow release ID
    backchannel escrow show ID

A refused command prints the service's problem (a release refused early shows
how far the condition is, e.g. ``1 of 2 signatures; predicate `...` held 12 of
30 days``) and exits 1.
"""

from __future__ import annotations

from datetime import datetime
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
from backchannel.errors import EncodingError
from backchannel.log.records import format_timestamp

__all__ = ["attest_app", "escrow_table"]

metric_app = typer.Typer(
    help="Define metrics and their quorum rule (mediator principal).", no_args_is_help=True
)
escrow_app = typer.Typer(help="Open, sign, release and show escrows.", no_args_is_help=True)
attest_app = typer.Typer()
"""``attest``, mounted at the top level by :mod:`backchannel.cli.main`."""


def _print_result(command: str, result: dict[str, Any]) -> None:
    types = ", ".join(str(e.get("type")) for e in result["events"])
    replayed = " (replayed: already done)" if result["replayed"] else ""
    out.print(f"{command}: {types} at index {result['first_index']}{replayed}", markup=False, soft_wrap=True)
    for event in result["events"]:
        if event.get("type") == "attestation.quorum_reached":
            out.print(
                f"quorum reached: {event['metric']} at {event['site']} counts {event['value']} "
                f"{event['unit']} (window from {event['window_start']}; {', '.join(event['parties'])})",
                markup=False,
                soft_wrap=True,
            )
        elif event.get("type") == "attestation.conflict_flagged":
            out.print(
                f"conflict flagged: {event['attestation']} disagrees with "
                f"{', '.join(event['conflicts_with'])}",
                markup=False,
                soft_wrap=True,
            )


def _time(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as e:
        raise EncodingError(f"{name}: {text!r} is not an ISO 8601 time") from e
    if value.utcoffset() is None:
        raise EncodingError(f"{name}: {text!r} has no time zone (add Z or +00:00)")
    return value


@metric_app.command("define")
def metric_define(
    metric: Annotated[str, typer.Argument(help="The dotted metric name, e.g. iaea.enrichment_pct.")],
    unit: Annotated[str, typer.Option("--unit", help="The unit every attestation must name.")],
    inspector: Annotated[
        list[str], typer.Option("--inspector", help="An inspector party (repeat: k of them).")
    ],
    quorum: Annotated[int, typer.Option("--quorum", help="m: how many inspectors must agree.")],
    tolerance: Annotated[float, typer.Option("--tolerance", help="How far apart agreeing values may be.")],
    key_file: KeyFile,
    track: Track,
    relative: Annotated[bool, typer.Option("--relative", help="The tolerance is a fraction (<= 1).")] = False,
    window_seconds: Annotated[
        int, typer.Option("--window-seconds", help="The observation window (86400: the UTC day).")
    ] = 86400,
    issue: Annotated[str | None, typer.Option("--issue", help="The agenda number issue it measures.")] = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Define a metric and its quorum rule: m of the k inspectors agreeing within the tolerance."""

    def body() -> None:
        with connect(server, key_file) as client:
            kind = "relative" if relative else "absolute"
            result = client.attestations.define_metric(
                track, metric, unit=unit, inspectors=inspector, quorum=quorum, tolerance=tolerance,
                tolerance_kind=kind, window_seconds=window_seconds, issue=issue,
            )  # fmt: skip
        _print_result("define_metric", result)

    run(body)


@attest_app.command("attest")
def attest(
    metric: Annotated[str, typer.Argument(help="The metric, e.g. iaea.enrichment_pct.")],
    value: Annotated[float, typer.Argument(help="The measured value.")],
    unit: Annotated[str, typer.Option("--unit", help="Must be the metric's unit.")],
    site: Annotated[str, typer.Option("--site", help="Where it was measured, e.g. natanz.")],
    key_file: KeyFile,
    track: Track,
    observed_at: Annotated[
        str | None, typer.Option("--observed-at", help="When (ISO 8601 with a zone; default: now).")
    ] = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """File a signed measurement (a member of an inspector party on the metric's panel)."""

    def body() -> None:
        when = None if observed_at is None else _time(observed_at, "--observed-at")
        with connect(server, key_file) as client:
            result = client.attestations.attest(track, metric, value, unit=unit, site=site, observed_at=when)
        _print_result("file_attestation", result)

    run(body)


@escrow_app.command("open")
def escrow_open(
    file: Annotated[Path, typer.Argument(help="The terms, a JSON file (see `escrow show` for the fields).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Open an escrow (mediator principal): items held, k-of-n signers, predicates, expiry.

    The file is a JSON object {"escrow_id", "items": [{"what", "amount", "unit", "owner",
    "beneficiary"}], "signers": a list of parties, "threshold": k, "predicates": ["METRIC <= VALUE
    sustained for N days", ...], "expires_at": an RFC 3339 instant}. Example: examples/escrow.json.
    """

    def body() -> None:
        terms = read_json_object(file, "escrow terms")
        expires = terms.get("expires_at")
        if isinstance(expires, str):
            terms["expires_at"] = format_timestamp(_time(expires, "expires_at"))
        with connect(server, key_file) as client:
            result = client.escrow.open(track, terms)
        _print_result("open_escrow", result)
        opened = result["events"][0] if result["events"] else {}
        if "escrow_digest" in opened:
            out.print(f"escrow digest: {opened['escrow_digest']}", markup=False, soft_wrap=True)

    run(body)


@escrow_app.command("sign")
def escrow_sign(
    escrow_id: Annotated[str, typer.Argument(help="The escrow's id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Sign the release (a principal of a signer party); the digest is recomputed from the terms shown."""

    def body() -> None:
        with connect(server, key_file) as client:
            result = client.escrow.sign_release(track, escrow_id)
        _print_result("sign_escrow_release", result)

    run(body)


@escrow_app.command("release")
def escrow_release(
    escrow_id: Annotated[str, typer.Argument(help="The escrow's id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Ask for the release: done only if the condition holds now, else refused with the progress."""

    def body() -> None:
        with connect(server, key_file) as client:
            result = client.escrow.release(track, escrow_id)
        _print_result("release_escrow", result)
        for event in result["events"]:
            if event.get("type") == "escrow.released":
                out.print(f"released: {event['reason']}", markup=False, soft_wrap=True)

    run(body)


@escrow_app.command("show")
def escrow_show(
    escrow_id: Annotated[str, typer.Argument(help="The escrow's id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """An escrow: items, condition, signatures, each predicate's progress, and whether it is releasable."""

    def body() -> None:
        with connect(server, key_file) as client:
            shown = client.escrow.get(track, escrow_id)
        if as_json:
            print_json(shown)
            return
        out.print(escrow_table(shown))

    run(body)


def escrow_table(shown: dict[str, Any]) -> Group:
    """An escrow as the service shows it: a summary table, a predicate progress table, the reason."""
    check = shown["check"]
    summary = Table(title=f"escrow {shown['escrow_id']}", show_header=False, title_justify="left")
    summary.add_column(style="bold", no_wrap=True)
    summary.add_column(overflow="fold")
    summary.add_row("status", shown["status"])
    for item in shown["terms"]["items"]:
        summary.add_row(
            "holds",
            f"{item['amount']:,} {item['unit']} of {item['what']}: {item['owner']} -> {item['beneficiary']}",
        )
    summary.add_row("condition", shown["condition"])
    summary.add_row("expires at", shown["terms"]["expires_at"])
    signed = ", ".join(f"{s['party']} ({s['member']})" for s in shown["signatures"]) or "none"
    summary.add_row("signatures", f"{check['signatures']} of {check['threshold']} needed: {signed}")
    summary.add_row("digest", shown["escrow_digest"])
    if shown["closed_at"] is not None:
        summary.add_row(shown["status"], f"{shown['closed_at']} by {shown['closed_by']}")
    progress = Table(title="predicates", title_justify="left")
    progress.add_column("predicate", overflow="fold")
    progress.add_column("held", justify="right", no_wrap=True)
    progress.add_column("holds", no_wrap=True)
    for p in check["predicates"]:
        held = p["note"] or f"{p['held']} of {p['required']} {p['unit']}{'s' if p['required'] != 1 else ''}"
        progress.add_row(p["text"], held, "yes" if p["holds"] else "no")
    if check["releasable"]:  # the reason says "releasable: ..."
        return Group(summary, progress, Text(check["reason"], style="bold green"))
    return Group(summary, progress, Text(f"not releasable now: {check['reason']}", style="bold yellow"))
