"""``backchannel deal`` and ``backchannel commit``: staged deals and commitments against a running server.

::

    backchannel deal draft FILE.json                  # circulate a draft (mediator principal)
    backchannel deal prepare FILE.json --deadline +10m # open the vote (mediator principal)
    backchannel deal vote ID --yes | --no             # sign the deal's hash (a delegation principal)
    backchannel deal show ID                          # phases, steps, votes, status, compensations
    backchannel deal list
    backchannel commit publish LABEL --content TEXT --out SECRET.json
    backchannel commit reveal --secret SECRET.json

``deal vote`` reads the deal first and signs the hash of the terms it was
shown (the SDK checks the service's hash against them). ``commit publish``
draws a 32-byte salt, publishes ``SHA-256(salt || content)`` and writes the
secret (id, salt, content) to a 0600 file for ``commit reveal``.

The demo's part lives in :mod:`backchannel.demo.deals`; the rendering of a
deal in :func:`backchannel.cli.render.render_deal`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
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
from backchannel.cli.render import STATUS_STYLE, render_deal
from backchannel.errors import ConfigurationError, EncodingError
from backchannel.log.canonical import JSONValue
from backchannel.sdk import CommitmentSecret

__all__ = ["parse_deadline"]

deal_app = typer.Typer(
    help="Staged deals: draft, prepare, vote, show (two-phase commit).", no_args_is_help=True
)
commit_app = typer.Typer(
    help="Commitments: publish a salted hash now, reveal it later.", no_args_is_help=True
)

_RELATIVE = re.compile(r"\+(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_deadline(text: str, now: datetime | None = None) -> datetime:
    """A deadline: ``+90s``, ``+10m``, ``+2h``, ``+1d`` from ``now``, or a UTC time ``2026-05-01T12:00:00Z``.

    Raises:
        EncodingError: neither form.
    """
    match = _RELATIVE.fullmatch(text.strip())
    if match is not None:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return (now or datetime.now(UTC)) + timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise EncodingError(f"--deadline: {text!r} is neither +N[s|m|h|d] nor an ISO 8601 time") from e
    if parsed.tzinfo is None:
        raise EncodingError(f"--deadline: {text!r} has no time zone (end it with Z)")
    return parsed.astimezone(UTC)


def _read_deal(file: Path) -> Mapping[str, JSONValue]:
    return read_json_object(file, "a deal {id, title, phases}")


def _report(result: Mapping[str, Any]) -> None:
    types = ", ".join(str(e.get("type")) for e in result["events"])
    replayed = " (replayed: already done)" if result["replayed"] else ""
    out.print(f"{types} at index {result['first_index']}{replayed}", markup=False, soft_wrap=True)


# --- rendering --------------------------------------------------------------------------------------
# --- deal commands ----------------------------------------------------------------------------------
@deal_app.command("draft")
def deal_draft(
    file: Annotated[Path, typer.Argument(help="The deal, a JSON file ({'id', 'title', 'phases'}).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Circulate (or revise) a deal as a draft: no votes until it is prepared (mediator principal).

    The file is a JSON object {"id", "title", "phases"}: phases is a list of phases, each a list
    of reciprocal steps {"party", "action", "issue" (an agenda issue or null), "quantity":
    {"value", "unit"}, "conditions": [...]}. Example: examples/deal.json.
    """

    def body() -> None:
        with connect(server, key_file) as client:
            _report(client.deals.draft(track, _read_deal(file)))

    run(body)


@deal_app.command("prepare")
def deal_prepare(
    file: Annotated[Path, typer.Argument(help="The deal, a JSON file ({'id', 'title', 'phases'}).")],
    deadline: Annotated[
        str, typer.Option("--deadline", help="+90s, +10m, +2h, +1d, or 2026-05-01T12:00:00Z.")
    ],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Open the vote on a deal until the deadline (mediator principal); prints the hash voters sign."""

    def body() -> None:
        when = parse_deadline(deadline)
        with connect(server, key_file) as client:
            result = client.deals.prepare(track, _read_deal(file), when)
        _report(result)
        prepared = result["events"][0] if result["events"] else {}
        if prepared.get("type") == "deal.prepared":
            out.print(f"deal hash: {prepared['deal_hash']}", markup=False, soft_wrap=True)
            out.print(
                f"voters: {', '.join(prepared['voters'])}; deadline {prepared['deadline']}", markup=False
            )

    run(body)


@deal_app.command("vote")
def deal_vote(
    deal_id: Annotated[str, typer.Argument(help="The deal's id.")],
    yes: Annotated[bool, typer.Option("--yes/--no", help="Vote YES or NO on the deal's hash.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Vote on a deal: read it, check its hash against its terms, sign that hash (a delegation principal)."""

    def body() -> None:
        with connect(server, key_file) as client:
            view = client.deals.get(track, deal_id)
            result = client.deals.vote(track, deal_id, yes, deal_hash=view["deal_hash"])
        _report(result)
        final = [e for e in result["events"] if e["type"] in {"deal.committed", "deal.aborted"}]
        for event in final:
            out.print(f"deal {deal_id} {event['type'].removeprefix('deal.')}", markup=False)

    run(body)


@deal_app.command("show")
def deal_show(
    deal_id: Annotated[str, typer.Argument(help="The deal's id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """A deal's phases, steps, votes and status (and an abort's compensations)."""

    def body() -> None:
        with connect(server, key_file) as client:
            view = client.deals.get(track, deal_id)
        if as_json:
            print_json(view)
            return
        out.print(render_deal(view))

    run(body)


@deal_app.command("list")
def deal_list(
    key_file: KeyFile, track: Track, server: Server = DEFAULT_SERVER, as_json: Json = False
) -> None:
    """Every deal of the track you may see."""

    def body() -> None:
        with connect(server, key_file) as client:
            deals = client.deals.list_all(track)
        if as_json:
            print_json(deals)
            return
        table = Table(title=f"{track}: {len(deals)} deal(s)", title_justify="left")
        for column in ("deal", "title", "status", "revision", "deadline"):
            table.add_column(column)
        for d in deals:
            style = STATUS_STYLE.get(d["status"], "")
            status = Text(d["status"], style=style)
            table.add_row(d["deal_id"], d["title"], status, str(d["revision"]), d["deadline"] or "-")
        out.print(table)

    run(body)


# --- commitments ------------------------------------------------------------------------------------
def _write_secret(path: Path, secret: CommitmentSecret) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise ConfigurationError(f"cannot create {path}: {e.strerror}") from e
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(secret.to_dict(), f, indent=2)
        f.write("\n")


@commit_app.command("publish")
def commit_publish(
    label: Annotated[str, typer.Argument(help="What it is about, e.g. 'next steps agreed'.")],
    content: Annotated[
        str, typer.Option("--content", help="The text committed to (kept secret until revealed).")
    ],
    secret_file: Annotated[
        Path, typer.Option("--out", "-o", help="Where to keep the salt and content (created 0600).")
    ],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Publish SHA-256(salt || content) with a fresh 32-byte salt; keep the secret file to reveal it."""

    def body() -> None:
        if secret_file.exists():
            raise ConfigurationError(f"{secret_file} exists: a secret is never overwritten")
        with connect(server, key_file) as client:
            secret = client.deals.publish_commitment(track, label, content)
        _write_secret(secret_file, secret)
        out.print(
            f"commitment {secret.commitment_id} published: {secret.commitment}", markup=False, soft_wrap=True
        )
        out.print(
            f"salt and content kept in {secret_file} (reveal with `commit reveal --secret`)", markup=False
        )

    run(body)


@commit_app.command("reveal")
def commit_reveal(
    secret_file: Annotated[Path, typer.Option("--secret", help="The file `commit publish --out` wrote.")],
    key_file: KeyFile,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Reveal a commitment: the service checks SHA-256(salt || content) against the published hash."""

    def body() -> None:
        try:
            secret = CommitmentSecret.from_dict(json.loads(secret_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise EncodingError(f"cannot read the secret {secret_file}: {e}") from e
        with connect(server, key_file) as client:
            _report(client.deals.reveal_commitment(secret))
        out.print(
            f"commitment {secret.commitment_id} revealed: {secret.content}", markup=False, soft_wrap=True
        )

    run(body)


# --- the demo's part ----------------------------------------------------------------------------------
