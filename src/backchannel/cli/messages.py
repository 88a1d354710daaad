"""The message commands, mounted at the top level (``messages_app`` has no name).

The commands: ``send``, ``relay``, ``reframe``, ``inbox``, ``settle``, ``receipts``,
``events`` and ``escalations``.

Each drives a running service through the SDK (``--server``, ``--key``,
``--track``). ``messages_app`` has no name: ``main`` mounts its commands at the
top level.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from backchannel.cli import render
from backchannel.cli._common import (
    DEFAULT_SERVER,
    Json,
    KeyFile,
    Server,
    Track,
    connect,
    execute,
    out,
    print_json,
    read_body,
    run,
)
from backchannel.cli.agenda import agenda_version_of
from backchannel.cli.annexes import AnnexFiles, SealTo, upload_annexes
from backchannel.cli.language_live import blocked_numbers, render_analysis
from backchannel.errors import DomainError, EncodingError, NotFoundError
from backchannel.log.canonical import JSONValue
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.sdk.receipts import ReceiptProof

__all__ = ["messages_app"]

messages_app = typer.Typer()
_PROPOSALS = frozenset({"proposal", "counter_proposal"})


@messages_app.command("send")
def send(
    key_file: KeyFile,
    track: Track,
    kind: Annotated[str, typer.Option("--kind", help="proposal, counter_proposal, statement, …")],
    body_json: Annotated[str, typer.Option("--body", "-b", help="The message body, a JSON object.")],
    priority: Annotated[str, typer.Option("--priority", help="flash, priority or routine.")] = "routine",
    in_reply_to: Annotated[str | None, typer.Option("--in-reply-to", help="A message id.")] = None,
    agenda_version: Annotated[
        int | None, typer.Option("--agenda-version", help="For proposals (default: the latest).")
    ] = None,
    annex: AnnexFiles = None,
    seal_to: SealTo = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Send a message to the mediator, with annexes (plain, or sealed to a party) if given."""

    def body() -> None:
        payload = read_body(body_json)
        version = agenda_version
        with connect(server, key_file) as client:
            if version is None and kind in _PROPOSALS:
                version = agenda_version_of(client, track)
            annexes = upload_annexes(client, track, annex or [], seal_to)
        command: dict[str, JSONValue] = {
            "kind": kind, "body": dict(payload), "priority": priority, "in_reply_to": in_reply_to,
            "annexes": annexes, "agenda_version": version,
        }  # fmt: skip
        execute(server, key_file, track, "submit_message", command)

    run(body)


_NoCheck = Annotated[
    bool, typer.Option("--no-check", help="Skip the language check (escalation, suggestions, drift).")
]


def _language_check(
    client: BackchannelClient, track: str, message_id: str, reframed: str | None
) -> dict[str, Any]:
    """Show the language aid's analysis of the message (and of the reframing) before anything is sent.

    A message without text (a proposal of values only) has nothing to check:
    the reframing's own text is checked alone, if there is one.
    """
    try:
        document = client.language.check(track, message_id=message_id, reframed=reframed)
    except ProblemError as e:
        if not e.type.endswith("/schema-violation"):
            raise
        out.print("language check: the original message has no text to check", markup=False)
        if reframed is None:
            return {}
        document = client.language.check(track, reframed)
    out.print(render_analysis(document))
    return document


@messages_app.command("relay")
def relay(
    message_id: Annotated[str, typer.Argument(help="The message to forward verbatim.")],
    to: Annotated[list[str], typer.Option("--to", help="A recipient party (repeat for more).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    no_check: _NoCheck = False,
) -> None:
    """Forward a message verbatim to parties (mediator), after showing its language check."""
    to_parties: list[JSONValue] = list(to)
    command: dict[str, JSONValue] = {"message_id": message_id, "to_parties": to_parties}

    def body() -> None:
        if not no_check:
            with connect(server, key_file) as client:
                _language_check(client, track, message_id, None)
        execute(server, key_file, track, "forward_message", command)

    run(body)


@messages_app.command("reframe")
def reframe(
    message_id: Annotated[str, typer.Argument(help="The message to reframe.")],
    to: Annotated[list[str], typer.Option("--to", help="A recipient party (repeat for more).")],
    body_json: Annotated[str, typer.Option("--body", "-b", help="The new body, a JSON object.")],
    key_file: KeyFile,
    track: Track,
    agenda_version: Annotated[
        int | None, typer.Option("--agenda-version", help="For proposals (default: the latest if 'values').")
    ] = None,
    server: Server = DEFAULT_SERVER,
    no_check: _NoCheck = False,
    force: Annotated[
        bool, typer.Option("--force", help="Send even though the reframing changes a number.")
    ] = False,
) -> None:
    """Deliver new text for a message to parties (mediator principal), after its language check.

    The check shows the original's escalation flags and suggested reframings
    and the new text's drift; a reframing that changes a number is refused
    unless ``--force`` is given. A suggestion is never sent by itself.
    """

    def body() -> None:
        payload = read_body(body_json)
        version = agenda_version
        with connect(server, key_file) as client:
            if version is None and "values" in payload:
                version = agenda_version_of(client, track)
            new_text = payload.get("text")
            if not no_check and isinstance(new_text, str):
                changes = blocked_numbers(_language_check(client, track, message_id, new_text))
                if changes and not force:
                    raise DomainError(
                        f"the reframing changes numbers ({'; '.join(changes)}): "
                        "not sent; fix it, or give --force to send it anyway"
                    )
        command: dict[str, JSONValue] = {
            "message_id": message_id, "to_parties": list[JSONValue](to), "body": dict(payload),
            "annexes": [], "agenda_version": version,
        }  # fmt: skip
        execute(server, key_file, track, "reframe_message", command)

    run(body)


def _print_ids(items: list[dict[str, Any]]) -> None:
    """Whole message ids, unwrapped, to copy into the next command."""
    for item in items:
        out.print(f"message id: {item['message_id']} (log index {item['log_index']})", soft_wrap=True)


def _next_step(items: list[dict[str, Any]]) -> str:
    """What to do with the deliveries: the mediator relays what waits for it; a party settles."""
    waiting = [i for i in items if i["entry"]["signed"]["event"]["type"] == "message.submitted"]
    if waiting:
        return (
            "next: you are the mediator, so you acknowledge a submission by relaying it: "
            "`backchannel relay ID --to PARTY` (verbatim) or `backchannel reframe ID ...` "
            "(`settle` is for the parties it is delivered to)"
        )
    return "next: receipt what you have read with `backchannel settle ID [ID ...]`"


@messages_app.command("inbox")
def inbox(
    key_file: KeyFile,
    track: Track,
    stream: Annotated[bool, typer.Option("--stream", help="Follow the Server-Sent Events stream.")] = False,
    poll: Annotated[bool, typer.Option("--poll", help="Long-poll until something arrives.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to poll or stream.")] = 10.0,
    last_event_id: Annotated[
        int | None, typer.Option("--last-event-id", help="Resume the stream after this log index.")
    ] = None,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Lease your party's deliveries (default), long-poll for them or stream them.

    A party then receipts them with `settle`; the mediator acknowledges a submission by
    relaying it (`relay` or `reframe`). With --json, one JSON list of the deliveries.
    """

    def body() -> None:
        with connect(server, key_file) as client:
            if stream:
                items: list[dict[str, Any]] = []
                for delivery in client.inbox.stream(track, last_event_id=last_event_id, timeout=timeout):
                    items.append(delivery)
                    if not as_json:
                        out.print(render.deliveries([delivery], title=f"delivery {len(items)}"))
                        _print_ids([delivery])
            else:
                items = client.inbox.poll(track, timeout=timeout) if poll else client.inbox.lease(track)
                if not as_json and items:
                    out.print(render.deliveries(items))
                    _print_ids(items)
        if as_json:
            print_json(items)
        elif not items:
            out.print("no deliveries")
        else:
            out.print(_next_step(items), markup=False, soft_wrap=True)

    run(body)


@messages_app.command("settle")
def settle(
    message_ids: Annotated[
        list[str],
        typer.Argument(help="The message ids to receipt; ID@INDEX names the delivery's log index yourself."),
    ],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Receipt delivered messages (one signed receipt for all of them).

    Each message is receipted at the log index of the entry that delivered it to
    your party, read from the log you may see unless given as ID@INDEX.
    """

    def body() -> None:
        with connect(server, key_file) as client:
            items = _receipt_items(client, track, message_ids)
            result = client.inbox.settle(track, items)
        replayed = " (replayed: already settled)" if result["replayed"] else ""
        delivered = ", ".join(f"{render.short(m)} at {i}" for m, i in items)
        out.print(
            f"receipt for {len(items)} message(s) ({delivered}) at index {result['first_index']}{replayed}",
            markup=False,
            soft_wrap=True,
        )

    run(body)


def _receipt_items(client: BackchannelClient, track: str, arguments: list[str]) -> list[tuple[str, int]]:
    """``(message_id, delivery log index)`` per argument; indexes not given are read from the log."""
    given: dict[str, int | None] = {}
    for argument in arguments:
        message_id, at, written = argument.partition("@")
        if at and not written.isdigit():
            raise EncodingError(f"{argument!r}: expected MESSAGE_ID or MESSAGE_ID@LOG_INDEX")
        given[message_id] = int(written) if at else None
    missing = {m for m, i in given.items() if i is None}
    found = _delivery_indexes(client, track, missing) if missing else {}
    if unknown := sorted(missing - set(found)):
        raise NotFoundError(
            f"no delivery of {', '.join(unknown)} to {_party(client)} in the log you may see on {track!r}"
        )
    return [(m, found[m] if i is None else i) for m, i in given.items()]


def _party(client: BackchannelClient) -> str:
    return client.member.partition("/")[0]


def _delivery_indexes(client: BackchannelClient, track: str, wanted: set[str]) -> dict[str, int]:
    """The log index of the entry that delivered each wanted message to the client's party."""
    party = _party(client)
    found: dict[str, int] = {}
    for entry in client.log.events(track):
        event = render.inner(entry)
        if party not in (event.get("to_parties") or []):
            continue
        kind = entry["signed"]["event"]["type"]
        message_id = event.get("message_id") if kind == "message.forwarded" else event.get("command_digest")
        if kind in {"message.forwarded", "message.reframed"} and message_id in wanted:
            found[str(message_id)] = int(entry["index"])
    return found


def _proof(proof: ReceiptProof) -> dict[str, JSONValue]:
    """A verified proof of receipt as JSON (the signed receipt itself stays with the SDK)."""
    return {
        "party": proof.party,
        "status": proof.status,
        "delivery_index": proof.delivery_index,
        "receipt_log_index": proof.log_index,
        "signer": proof.signer,
        "key_id": proof.key_id,
        "checkpoint_size": proof.checkpoint_size,
        "verified": proof.settled,
    }


@messages_app.command("receipts")
def receipts(
    message_id: Annotated[str, typer.Argument(help="One of your party's messages (the mediator: any).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Proof of receipt of a message: each recipient party's signed receipt, verified."""

    def body() -> None:
        with connect(server, key_file) as client:
            proofs = client.log.receipt_proofs(track, message_id)
            size = client.log.checkpoint(track).size
        if as_json:
            print_json({"message_id": message_id, "log_size": size, "proofs": [_proof(p) for p in proofs]})
            return
        if not proofs:
            out.print(f"{render.short(message_id)} was not delivered to any party yet", markup=False)
            return
        settled = sum(p.settled for p in proofs)
        title = (
            f"receipts of {render.short(message_id)}: {settled} of {len(proofs)} verified "
            f"(inclusion in the checkpoint of size {proofs[0].checkpoint_size}; log size {size})"
        )
        out.print(render.receipts(proofs, title))

    run(body)


@messages_app.command("events")
def events(
    key_file: KeyFile,
    track: Track,
    after: Annotated[int, typer.Option("--after", min=0, help="Start at this index.")] = 0,
    types: Annotated[
        list[str] | None,
        typer.Option("--type", help="Only this event type (repeatable), e.g. message.submitted."),
    ] = None,
    member: Annotated[str | None, typer.Option("--member", help="Only the commands of this member.")] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only entries created at or after (RFC 3339; UTC if no offset)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only entries created before (RFC 3339; UTC if no offset).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the entries as one JSON document.")] = False,
    server: Server = DEFAULT_SERVER,
) -> None:
    """The transcript you may see (leaf hashes checked), optionally searched by type, member and time."""

    def body() -> None:
        with connect(server, key_file) as client:
            if types or member or since or until:
                entries = client.log.search(
                    track,
                    types=types or (),
                    member=member,
                    since=_instant(since, "--since"),
                    until=_instant(until, "--until"),
                    after=after,
                )
            else:
                entries = client.log.events(track, after=after)
            size = client.log.checkpoint(track).size
        if as_json:
            print_json({"track": track, "size": size, "entries": entries})
            return
        out.print(render.transcript(entries, f"{track}: {len(entries)} visible of {size} entries"))

    run(body)


def _instant(text: str | None, option: str) -> datetime | None:
    """An RFC 3339 instant (UTC when it names no offset), or EncodingError naming the option."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise EncodingError(
            f"{option}: not an RFC 3339 instant, e.g. 2026-12-06T19:00:00Z (got {text!r})"
        ) from e
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@messages_app.command("escalations")
def escalations(
    key_file: KeyFile,
    track: Track,
    mine: Annotated[bool, typer.Option("--mine", help="Only escalations that alert you.")] = False,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Escalations (with every member each one alerts) and dead letters you may see."""

    def body() -> None:
        with connect(server, key_file) as client:
            entries = client.log.events(track)
            member = client.member
        kinds = {"message.escalated", "message.dead_lettered"}
        found = [e for e in entries if e["signed"]["event"]["type"] in kinds]
        if mine:
            found = [e for e in found if member in (render.inner(e).get("to") or [])]
        if as_json:
            print_json(found)
            return
        what = "escalation(s) alerting you" if mine else "escalation(s) and dead letter(s)"
        out.print(render.escalations(found, f"{track}: {len(found)} {what}", reader=member))

    run(body)
