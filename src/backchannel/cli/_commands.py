"""The commands that drive a running service through the SDK (``--server URL``, ``--key FILE``).

The member is the ``name`` field of the key file; the log key is pinned on
first use from ``GET /v1/service``. Every command ends through
:func:`backchannel.cli.main.run`, so a refused command prints its problem
(title, detail and field-level violations) and exits 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from backchannel.cli import render
from backchannel.cli.main import _read_body, app, keys_app, out, run, track_app
from backchannel.client import BackchannelClient
from backchannel.domain import Agenda
from backchannel.errors import ConfigurationError, EncodingError, NotFoundError
from backchannel.keyfile import read_key_file
from backchannel.log.canonical import JSONValue, loads_strict
from backchannel.wire import agenda_digest, enrolment_key

party_app = typer.Typer(help="Admit parties (mediator principal).", no_args_is_help=True)
annex_app = typer.Typer(help="Upload and fetch annexes (sealed or plain).", no_args_is_help=True)
member_app = typer.Typer(help="Enrol members in your party (a principal).", no_args_is_help=True)
agenda_app = typer.Typer(help="Propose and ratify the agenda.", no_args_is_help=True)
app.add_typer(party_app, name="party")
app.add_typer(member_app, name="member")
app.add_typer(agenda_app, name="agenda")
app.add_typer(annex_app, name="annex")
app.add_typer(keys_app, name="key", hidden=True)  # `key rotate` reads as well as `keys rotate`

Server = Annotated[
    str, typer.Option("--server", "-s", envvar="BACKCHANNEL_SERVER", help="The service's public origin.")
]
KeyFile = Annotated[
    Path,
    typer.Option("--key", "-k", envvar="BACKCHANNEL_KEY", help="Your key file (the member is its name)."),
]
Track = Annotated[str, typer.Option("--track", "-t", envvar="BACKCHANNEL_TRACK", help="Track id.")]
DEFAULT_SERVER = "http://127.0.0.1:8000"
_PROPOSALS = frozenset({"proposal", "counter_proposal"})


def _client(server: str, key_file: Path) -> BackchannelClient:
    keys = read_key_file(key_file)
    return BackchannelClient(server, keys.name, keys)


def _execute(server: str, key_file: Path, track: str, command: str, body: Mapping[str, JSONValue]) -> None:
    with _client(server, key_file) as client:
        result = client.execute(command, body, track=track)
    types = ", ".join(str(e.get("type")) for e in result["events"])
    replayed = " (replayed: already done)" if result["replayed"] else ""
    out.print(f"{command}: {types} at index {result['first_index']}{replayed}", markup=False, soft_wrap=True)
    digest = result["events"][0].get("command_digest") if result["events"] else None
    if command in {"submit_message", "reframe_message"} and digest:
        out.print(f"message id: {digest}", markup=False, soft_wrap=True)


def _agenda_version(client: BackchannelClient, track: str) -> int:
    versions = [
        int(render.inner(e).get("agenda", {}).get("version", 0))
        for e in client.events(track)
        if e["signed"]["event"]["type"] == "agenda.proposed"
    ]
    if not versions:
        raise NotFoundError(f"track {track!r} has no agenda yet: pass --agenda-version")
    return max(versions)


# --- tracks, parties, members, keys ---------------------------------------------------------------
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
        _execute(server, key_file, track, "open_track", grant)

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
        _execute(server, key_file, track, "admit_party", grant)

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
        _execute(server, key_file, track, "enroll_member", grant)

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
        _execute(server, key_file, track, "rotate_key", grant)

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
        lambda: _execute(
            server, key_file, track, "revoke_key", {"subject": subject, "revoked_key_id": key_id}
        )
    )


# --- agenda ---------------------------------------------------------------------------------------
@agenda_app.command("propose")
def agenda_propose(
    file: Annotated[Path, typer.Argument(help="The agenda, a JSON file ({'version', 'issues'}).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Propose an agenda version (mediator principal)."""

    def body() -> None:
        agenda = Agenda.from_dict(read_json_object(file, "the agenda"))
        _execute(server, key_file, track, "propose_agenda", {"agenda": agenda.to_dict()})
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
        with _client(server, key_file) as client:
            proposed = [
                render.inner(e)["agenda"]
                for e in client.events(track)
                if e["signed"]["event"]["type"] == "agenda.proposed"
            ]
        found = [a for a in proposed if isinstance(a, Mapping) and a.get("version") == version]
        if not found:
            raise NotFoundError(f"agenda version {version} was not proposed on {track!r}")
        digest = agenda_digest(Agenda.from_dict(found[-1])).hex()
        _execute(server, key_file, track, "ratify_agenda", {"version": version, "agenda_digest": digest})

    run(body)


# --- annexes --------------------------------------------------------------------------------------
AnnexFiles = Annotated[
    list[Path] | None,
    typer.Option("--annex", help="A file to send alongside, uploaded first (repeat for more)."),
]
SealTo = Annotated[
    str | None,
    typer.Option(
        "--seal-to",
        help="Seal each annex to every active member of this party (one blob per member), "
        "so the mediator relays what it cannot read.",
    ),
]


def _read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise EncodingError(f"cannot read {path}: {e.strerror}") from e


def read_json_object(path: Path, what: str) -> dict[str, JSONValue]:
    """The JSON object in ``path`` (strict: duplicate keys, NaN... refused), described as ``what``.

    Raises:
        EncodingError: the file cannot be read, is not JSON, or is not an object.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EncodingError(f"{path}: cannot read {what}: {e.strerror}") from e
    value = loads_strict(data)
    if not isinstance(value, dict):
        raise EncodingError(f"{path}: expected a JSON object ({what})")
    return value


def _upload(client: BackchannelClient, track: str, files: list[Path], seal_to: str | None) -> list[JSONValue]:
    """Upload each file (sealed to ``seal_to``'s members, if given); return every digest, in order."""
    if seal_to is not None and not files:
        raise ConfigurationError("--seal-to seals annexes: give at least one --annex FILE")
    digests: list[JSONValue] = []
    for path in files:
        data = _read_file(path)
        if seal_to is None:
            uploaded = {"(plain)": client.upload_annex(track, data)}
        else:
            uploaded = {
                f"sealed to {m}": d for m, d in client.upload_sealed(track, data, party=seal_to).items()
            }
        for how, digest in uploaded.items():
            out.print(f"annex {path.name} {how}: {digest}", markup=False, soft_wrap=True)
            digests.append(digest)
    return digests


@annex_app.command("put")
def annex_put(
    files: Annotated[list[Path], typer.Argument(help="The files to upload.")],
    key_file: KeyFile,
    track: Track,
    seal_to: SealTo = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Upload annexes (plain, or sealed to a party) and print their digests, for a message's annexes."""

    def body() -> None:
        with _client(server, key_file) as client:
            _upload(client, track, files, seal_to)

    run(body)


@annex_app.command("get")
def annex_get(
    digest: Annotated[str, typer.Argument(help="The annex's SHA-256 (64 hex digits).")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Where to write it.")],
    key_file: KeyFile,
    track: Track,
    open_it: Annotated[
        bool, typer.Option("--open", help="Open it with your X25519 key (it must be sealed to you).")
    ] = False,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Fetch an annex (its digest is checked); with --open, write what was sealed to you."""

    def body() -> None:
        with _client(server, key_file) as client:
            data = client.open_annex(track, digest) if open_it else client.fetch_annex(track, digest)
        try:
            out_file.write_bytes(data)
        except OSError as e:
            raise ConfigurationError(f"cannot write {out_file}: {e.strerror}") from e
        what = "opened" if open_it else "fetched (digest checked)"
        out.print(
            f"annex {digest} {what}: {len(data)} bytes written to {out_file}", markup=False, soft_wrap=True
        )

    run(body)


# --- messages -------------------------------------------------------------------------------------
@app.command("send")
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
        payload = _read_body(body_json)
        version = agenda_version
        with _client(server, key_file) as client:
            if version is None and kind in _PROPOSALS:
                version = _agenda_version(client, track)
            annexes = _upload(client, track, annex or [], seal_to)
        command: dict[str, JSONValue] = {
            "kind": kind, "body": dict(payload), "priority": priority, "in_reply_to": in_reply_to,
            "annexes": annexes, "agenda_version": version,
        }  # fmt: skip
        _execute(server, key_file, track, "submit_message", command)

    run(body)


@app.command("relay")
def relay(
    message_id: Annotated[str, typer.Argument(help="The message to forward verbatim.")],
    to: Annotated[list[str], typer.Option("--to", help="A recipient party (repeat for more).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Forward a message verbatim to parties (mediator)."""
    to_parties: list[JSONValue] = list(to)
    command: dict[str, JSONValue] = {"message_id": message_id, "to_parties": to_parties}
    run(lambda: _execute(server, key_file, track, "forward_message", command))


@app.command("reframe")
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
) -> None:
    """Deliver new text for a message to parties (mediator principal)."""

    def body() -> None:
        payload = _read_body(body_json)
        version = agenda_version
        if version is None and "values" in payload:
            with _client(server, key_file) as client:
                version = _agenda_version(client, track)
        command: dict[str, JSONValue] = {
            "message_id": message_id, "to_parties": list[JSONValue](to), "body": dict(payload),
            "annexes": [], "agenda_version": version,
        }  # fmt: skip
        _execute(server, key_file, track, "reframe_message", command)

    run(body)


def _print_ids(items: list[dict[str, Any]]) -> None:
    """Whole message ids, unwrapped, to copy into `settle`."""
    for item in items:
        out.print(f"message id: {item['message_id']} (log index {item['log_index']})", soft_wrap=True)


# --- inbox ----------------------------------------------------------------------------------------
@app.command("inbox")
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
) -> None:
    """Lease your party's deliveries (default), long-poll for them or stream them; settle with `settle`."""

    def body() -> None:
        with _client(server, key_file) as client:
            if stream:
                items: list[dict[str, Any]] = []
                for delivery in client.stream(track, last_event_id=last_event_id, timeout=timeout):
                    items.append(delivery)
                    out.print(render.deliveries([delivery], title=f"delivery {len(items)}"))
                    _print_ids([delivery])
                if not items:
                    out.print("no deliveries")
                return
            items = client.poll(track, timeout=timeout) if poll else client.lease(track)
        out.print(render.deliveries(items) if items else "no deliveries")
        _print_ids(items)

    run(body)


@app.command("settle")
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
        with _client(server, key_file) as client:
            items = _receipt_items(client, track, message_ids)
            result = client.settle(track, items)
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
    for entry in client.events(track):
        event = render.inner(entry)
        if party not in (event.get("to_parties") or []):
            continue
        kind = entry["signed"]["event"]["type"]
        message_id = event.get("message_id") if kind == "message.forwarded" else event.get("command_digest")
        if kind in {"message.forwarded", "message.reframed"} and message_id in wanted:
            found[str(message_id)] = int(entry["index"])
    return found


@app.command("receipts")
def receipts(
    message_id: Annotated[str, typer.Argument(help="One of your party's messages (the mediator: any).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Proof of receipt of a message: each recipient party's signed receipt, verified."""

    def body() -> None:
        with _client(server, key_file) as client:
            proofs = client.receipt_proofs(track, message_id)
            size = client.checkpoint(track).size
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


# --- reading --------------------------------------------------------------------------------------
@app.command("events")
def events(
    key_file: KeyFile,
    track: Track,
    after: Annotated[int, typer.Option("--after", min=0, help="Start at this index.")] = 0,
    server: Server = DEFAULT_SERVER,
) -> None:
    """The transcript you may see (leaf hashes checked)."""

    def body() -> None:
        with _client(server, key_file) as client:
            entries = client.events(track, after=after)
            size = client.checkpoint(track).size
        out.print(render.transcript(entries, f"{track}: {len(entries)} visible of {size} entries"))

    run(body)


@app.command("escalations")
def escalations(
    key_file: KeyFile,
    track: Track,
    mine: Annotated[bool, typer.Option("--mine", help="Only escalations that alert you.")] = False,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Escalations (with every member each one alerts) and dead letters you may see."""

    def body() -> None:
        with _client(server, key_file) as client:
            entries = client.events(track)
            member = client.member
        kinds = {"message.escalated", "message.dead_lettered"}
        found = [e for e in entries if e["signed"]["event"]["type"] in kinds]
        if mine:
            found = [e for e in found if member in (render.inner(e).get("to") or [])]
        what = "escalation(s) alerting you" if mine else "escalation(s) and dead letter(s)"
        out.print(render.escalations(found, f"{track}: {len(found)} {what}", reader=member))

    run(body)
