"""The stage of the live demo: members with their keys and clients, the witness, the checks.

:class:`Stage` holds one :class:`~backchannel.sdk.client.BackchannelClient` per
member (each trusting a checkpoint only once ``norway`` cosigned it), the
witness program, and the helpers every scene uses: signed commands, the
mediator's queue, checked deliveries and receipts. The scenes themselves are in
:mod:`backchannel.demo.live` and its sibling modules.

This module does not start a server (:mod:`backchannel.demo.server` does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from backchannel.cli.render import by as _by
from backchannel.cli.render import inner as _inner
from backchannel.cli.render import short as _short
from backchannel.demo.keys import member_keys
from backchannel.errors import BackchannelError, VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.log.records import LogEntry
from backchannel.log.signing import VerifyingKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand
from backchannel.sdk import BackchannelClient
from backchannel.sdk.witness import Witness

__all__ = ["INSPECTORS", "MEMBERS", "TRACK", "WITNESS", "Check", "Member", "Stage", "print_checks", "ranges"]

TRACK = "us-iran-nuclear"
MEMBERS = ("qatar/principal", "usa/principal", "usa/delegate", "iran/principal", "iran/delegate")
INSPECTORS = ("iaea/principal", "euratom/principal")
WITNESS = "norway/principal"


@dataclass
class Check:
    """One check the demo made, and its outcome."""

    party: str
    what: str
    ok: bool
    detail: str


@dataclass
class Member:
    """One member: its keys, its client and what it has seen."""

    keys: KeyPair
    client: BackchannelClient
    first_size: int | None = None
    first_note: SignedCheckpoint | None = None
    last_seen: int | None = None
    received: list[dict[str, Any]] = field(default_factory=list)


class Stage:
    """The members, their clients, the witness and the checks; the scenes build on it."""

    def __init__(self, console: Console, url: str, log_key: str, key_dir: Path, witness_dir: Path) -> None:
        """Write a key file per member and make their clients and the witness."""
        self.out = console
        self.url = url
        self.checks: list[Check] = []
        self.members: dict[str, Member] = {}
        keys = {name: member_keys(key_dir, name) for name in (*MEMBERS, *INSPECTORS, WITNESS)}
        # every client trusts a checkpoint only once norway has cosigned it
        witnesses = {WITNESS: keys[WITNESS].signing.verifying_key}
        for name in (*MEMBERS, *INSPECTORS):
            client = BackchannelClient(
                url, name, keys[name], pinned_log_key=log_key, witnesses=witnesses, witness_quorum=1
            )
            self.members[name] = Member(keys[name], client)
        witness_client = BackchannelClient(url, WITNESS, keys[WITNESS], pinned_log_key=log_key)
        self.witness = Witness(witness_client, witness_dir, log_key=log_key)
        self.cosigned: list[int] = []  # the sizes norway cosigned, in order
        self.service_key: dict[str, Any] = {}

    def close(self) -> None:
        """Close every client."""
        for member in self.members.values():
            member.client.close()
        self.witness.client.close()

    # --- helpers ----------------------------------------------------------
    def c(self, name: str) -> BackchannelClient:
        """The client of member ``name``."""
        return self.members[name].client

    def step(self, text: str, *, cosign: bool = True) -> None:
        """Start a step (after the witness cosigned the previous one's entries)."""
        if cosign:
            self.cosign()  # the previous step's entries, before anyone proves their inclusion
        self.out.print(Rule(text, style="blue", align="left"))

    def cosign(self) -> None:
        """The witness cosigns the latest checkpoint: clients requiring 1 cosignature trust nothing newer."""
        try:
            result = self.witness.cosign_latest(TRACK)
        except BackchannelError as e:
            self.check("norway", "cosigned the latest checkpoint", ok=False, detail=str(e))
            return
        if result.status == "cosigned":
            self.cosigned.append(result.size)
            since = "" if result.previous_size is None else f", consistent with {result.previous_size}"
            self.say(f"{WITNESS}: cosigned checkpoint {result.size}{since}", "dim")

    def say(self, text: str, style: str = "") -> None:
        """Print a line of the story."""
        self.out.print(Text("  " + text, style=style))

    def check(self, party: str, what: str, ok: bool, detail: str = "") -> None:
        """Record and print a check."""
        self.checks.append(Check(party, what, ok, detail))
        mark = "[green]ok[/]" if ok else "[bold red]FAILED[/]"
        self.out.print(f"  {mark} {party}: {what}" + (f" ({detail})" if detail else ""), highlight=False)

    def exec(self, member: str, command: str, body: Mapping[str, JSONValue]) -> dict[str, Any]:
        """Sign and send a command as ``member``."""
        result = self.c(member).execute(command, body, track=TRACK)
        index = result["first_index"]
        self.say(f"{member}: {command} → index {index}", "dim")
        return result

    def submit(self, member: str, kind: str, body: dict[str, JSONValue], **extra: JSONValue) -> str:
        """Submit a message as ``member``; return its id."""
        payload: dict[str, JSONValue] = {
            "kind": kind,
            "body": body,
            "priority": "routine",
            "in_reply_to": None,
            "annexes": [],
            "agenda_version": 1 if kind in {"proposal", "counter_proposal"} else None,
            **extra,
        }
        result = self.exec(member, "submit_message", payload)
        return str(result["events"][0]["command_digest"])

    def mediator_takes(self, message_id: str) -> dict[str, Any]:
        """The mediator leases its queue and finds the submission."""
        deliveries = self.c("qatar/principal").inbox.lease(TRACK)
        found = [d for d in deliveries if d["message_id"] == message_id]
        self.check("qatar", f"submission {_short(message_id)} is in the mediator's queue", bool(found))
        return found[0] if found else {}

    def author_key(self, reader: str, author: str) -> VerifyingKey | None:
        """The author's latest Ed25519 key as the reader's visible log grants it."""
        found: VerifyingKey | None = None
        for item in self.c(reader).log.events(TRACK):
            body = _inner(item)
            kind = item["signed"]["event"]["type"]
            named = {
                "track.opened": ("by", "principal_key"),
                "party.admitted": ("principal", "principal_key"),
                "member.enrolled": ("member", "key"),
                "key.rotated": ("subject", "new_key"),
            }.get(kind)
            if named is not None and body.get(named[0]) == author:
                key = body.get(named[1])
                if isinstance(key, Mapping):
                    found = VerifyingKey(bytes.fromhex(str(key["ed25519"])))
        return found

    def receive(self, member: str, deliveries: list[dict[str, Any]]) -> None:
        """Check each delivery (leaf, inclusion, author signature) and settle them all with one receipt."""
        party = member.split("/", maxsplit=1)[0]
        state = self.members[member]
        if deliveries:
            self.cosign()  # the deliveries' entries are proven under a cosigned checkpoint
        for delivery in deliveries:
            entry = delivery["entry"]
            decoded = LogEntry.from_dict({"signed": entry["signed"], "salt": entry["salt"]})
            problems: list[str] = []
            if decoded.leaf_hash.hex() != entry["leaf_hash"] or decoded.seq != delivery["log_index"]:
                problems.append("leaf hash or index mismatch")
            try:
                self.c(member).log.verify_inclusion(TRACK, entry["index"], entry["leaf_hash"])
            except BackchannelError as e:
                problems.append(f"inclusion: {e}")
            if delivery.get("original") is not None:
                original = SignedCommand.from_dict(delivery["original"])
                key = self.author_key(member, original.member)
                try:
                    if key is None:
                        raise VerificationError(f"no key for {original.member}")
                    original.verify(key)
                except BackchannelError as e:
                    problems.append(f"author signature: {e}")
                how = f"verbatim from {original.member}, signature verified"
            else:
                how = f"{decoded.signed.event.type} by {_by(entry)}"
            self.check(
                party,
                f"received {_short(delivery['message_id'])} ({delivery['priority']}) at index "
                f"{delivery['log_index']}, inclusion proved",
                not problems,
                "; ".join(problems) or how,
            )
            state.received.append(delivery)
            state.last_seen = max(state.last_seen or 0, int(delivery["log_index"]))
        if deliveries:
            result = self.c(member).inbox.settle(TRACK, deliveries)
            self.say(
                f"{member}: record_receipt for {len(deliveries)} message(s), each at its delivery index "
                f"→ index {result['first_index']}",
                "dim",
            )


def ranges(indexes: list[int]) -> str:
    """``0, 1, 2, 3, 7, 9, 10`` as ``0-3, 7, 9, 10``: runs of three or more as a range."""
    runs: list[list[int]] = []
    for index in indexes:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    shown = [[f"{r[0]}-{r[-1]}"] if len(r) > 2 else [str(i) for i in r] for r in runs]
    return ", ".join(text for part in shown for text in part)


def print_checks(console: Console, checks: list[Check]) -> None:
    """The table of every check and its result."""
    table = Table(title="verification", title_justify="left")
    table.add_column("party", no_wrap=True)
    table.add_column("check")
    table.add_column("result", no_wrap=True)
    for check in checks:
        table.add_row(check.party, check.what, "[green]OK[/]" if check.ok else "[bold red]FAILED[/]")
    console.print(table)
