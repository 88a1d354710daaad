"""Benchmark batch-signed envelopes (issue #13 item 2, ADR-0051): server-only msg/s, in process.

Run with ``.venv/bin/python bench/batch.py [--quick]``.

One track on a SQLite store (fsync'd as ``serve`` runs it), driven in process
through the services ``serve`` uses, without HTTP: each message is submitted by
usa, relayed (``forward_message``) by the mediator qatar and receipted by iran
(``record_receipt`` of up to 64 deliveries). Every command is signed before the
clock starts: only the server's work is timed (decoding, verification, the
admission checks, decide, the group-committed append with its fsync, the queues).
The same messages run twice, in the same process:

- **without batch signing**: every command carries its own signature and is
  verified on its own (``.../commands/batch`` runs them so: one append per group);
- **with batch signing**: each group of commands is signed once over its Merkle
  root and admitted as ``.../commands/batch-signed`` admits it
  (:func:`~backchannel.service.batch.check_batch`, then
  :func:`~backchannel.service.batch.verify_batch`: one Ed25519 verification per
  group), then runs the same way.

It prints msg/s for both, each stage's µs per message, and the ratio. The peer
here is our own one-signature-per-command path; the issue's target is ≥ 10,000
msg/s with batch signing (server only, in process).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _report import Report, Row, Target, count, figure, heading, note, print_context, print_summary, progress
from backchannel.broker import DeliveryPolicy
from backchannel.clock import SystemClock
from backchannel.domain.receipts import ReceiptItem
from backchannel.errors import BackchannelError
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import (
    SignedCommand,
    agenda_digest,
    command_payload,
    enrolment_key,
    receipt_digest,
    sign_batch,
    sign_command,
)
from backchannel.service.batch import check_batch, verify_batch
from backchannel.service.delivery import DeliveryService
from backchannel.service.gc_policy import tune_gc
from backchannel.service.log import LogWriter
from backchannel.service.tracks import CommandResult, TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import seeded_keys as pair

TRACK = "bench-batch"
GROUP = 512  # commands per group commit (and per batch signature)
RECEIPT_ITEMS = 64  # deliveries per record_receipt
PAYLOAD = 1024
TARGET_WITH = 10_000.0


NODE, QATAR, USA, IRAN = (
    pair(1, "qatar/service"),
    pair(2, "qatar/principal"),
    pair(3, "usa/principal"),
    pair(4, "iran/principal"),
)


@dataclass
class Stages:
    """Seconds spent by the server per stage."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, elapsed: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


class Node:
    """The services ``serve`` builds, on a SQLite store in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        tune_gc()  # as backchannel serve does
        self.store = SQLiteEventStore(directory / "bench.sqlite3")
        writer = LogWriter(self.store, NoteSigner("bench.log", SigningKey.from_seed(b"\x07" * 32)))
        self.tracks = TrackService(writer, NODE)
        self.delivery = DeliveryService(
            self.tracks, NODE, DeliveryPolicy(queue_limit=1_000_000, credit=1_000_000), clock=SystemClock()
        )

    def run(self, commands: Sequence[SignedCommand]) -> list[CommandResult]:
        outcomes = self.delivery.submit_many(commands)
        for outcome in outcomes:
            if isinstance(outcome, BackchannelError):
                raise outcome
        return [o for o in outcomes if isinstance(o, CommandResult)]

    def run_batch_signed(self, commands: Sequence[SignedCommand]) -> list[CommandResult]:
        check_batch(TRACK, commands)  # what the batch-signed route runs before the commands
        state = self.tracks.state(TRACK)
        assert state is not None
        verify_batch(state, commands, datetime.now(UTC), self.tracks.ahead)
        return self.run(commands)

    def close(self) -> None:
        self.store.close()


def signer(keys: KeyPair) -> Callable[[str, dict[str, JSONValue], str], SignedCommand]:
    def sign(command: str, body: dict[str, JSONValue], key: str) -> SignedCommand:
        return sign_command(
            keys.signing, track=TRACK, command=command, member=keys.name, body=body,
            issued_at=datetime.now(UTC), nonce=secrets.token_urlsafe(12), idempotency_key=key,
        )  # fmt: skip

    return sign


def batch_signer(
    keys: KeyPair,
) -> Callable[[list[tuple[str, dict[str, JSONValue], str]]], list[SignedCommand]]:
    def sign(items: list[tuple[str, dict[str, JSONValue], str]]) -> list[SignedCommand]:
        now = datetime.now(UTC)
        payloads = [
            command_payload(
                keys.signing.key_id,
                track=TRACK,
                command=command,
                member=keys.name,
                body=body,
                issued_at=now,
                nonce=secrets.token_urlsafe(12),
                idempotency_key=key,
            )
            for command, body, key in items
        ]
        return sign_batch(keys.signing, payloads)

    return sign


def open_track(node: Node) -> None:
    qatar, usa, iran = signer(QATAR), signer(USA), signer(IRAN)
    service_key = enrolment_key(NODE)
    node.run([qatar("open_track", {"title": "bench", "principal_key": enrolment_key(QATAR),
                                   "service_key": service_key}, "open")])  # fmt: skip
    node.run([
        qatar("admit_party", {"party": p, "kind": "delegation", "principal": k.name,
                              "principal_key": enrolment_key(k)}, f"admit-{p}")
        for p, k in (("usa", USA), ("iran", IRAN))
    ])  # fmt: skip
    node.run([qatar("propose_agenda", {"agenda": AGENDA.to_dict()}, "agenda")])
    digest = agenda_digest(AGENDA).hex()
    node.run([usa("ratify_agenda", {"version": 1, "agenda_digest": digest}, "ratify")])
    node.run([iran("ratify_agenda", {"version": 1, "agenda_digest": digest}, "ratify")])


def statement(i: int) -> dict[str, JSONValue]:
    return {
        "kind": "statement", "body": {"text": f"{i:08d}" + "x" * (PAYLOAD - 8)}, "priority": "routine",
        "in_reply_to": None, "annexes": [], "agenda_version": None,
    }  # fmt: skip


def groups(
    items: list[tuple[str, dict[str, JSONValue], str]],
) -> list[list[tuple[str, dict[str, JSONValue], str]]]:
    return [items[i : i + GROUP] for i in range(0, len(items), GROUP)]


def measure(n: int, *, batched: bool) -> tuple[float, Stages]:
    """Submit, relay and receipt ``n`` messages; the server's seconds per stage."""
    stages = Stages()
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        node = Node(Path(tmp))
        try:
            open_track(node)

            def sign_groups(
                keys: KeyPair, items: list[tuple[str, dict[str, JSONValue], str]]
            ) -> list[list[SignedCommand]]:
                if batched:
                    return [batch_signer(keys)(g) for g in groups(items)]
                one = signer(keys)
                return [[one(*item) for item in g] for g in groups(items)]

            def serve(stage: str, signed_groups: list[list[SignedCommand]]) -> list[CommandResult]:
                results: list[CommandResult] = []
                began = time.perf_counter()
                for group in signed_groups:
                    results += node.run_batch_signed(group) if batched else node.run(group)
                stages.add(stage, time.perf_counter() - began)
                return results

            submits = sign_groups(USA, [("submit_message", statement(i), f"s-{i}") for i in range(n)])
            serve("submit", submits)
            message_ids = [c.digest.hex() for g in submits for c in g]
            forwards = sign_groups(
                QATAR,
                [
                    ("forward_message", {"message_id": m, "to_parties": ["iran"]}, f"f-{m[:32]}")
                    for m in message_ids
                ],
            )
            forwarded = serve("relay", forwards)
            items = [ReceiptItem(m, r.first_index or 0) for m, r in zip(message_ids, forwarded, strict=True)]
            receipts = []
            for start in range(0, n, RECEIPT_ITEMS):
                chunk = tuple(items[start : start + RECEIPT_ITEMS])
                digest = receipt_digest(chunk).hex()
                body: dict[str, JSONValue] = {"items": [i.to_json() for i in chunk], "receipt_digest": digest}
                receipts.append(("record_receipt", body, f"r-{start}"))
            serve("receipt", sign_groups(IRAN, receipts))
            state = node.tracks.state(TRACK)
            assert state is not None
            assert not state.pending_for("iran"), "every delivery settled"
        finally:
            node.close()
    return n / stages.total, stages


def verification(n: int) -> tuple[float, float]:
    """µs per command to verify ``n`` commands: each signed alone, and batch-signed in groups of GROUP.

    The batch-signed figure includes the one Ed25519 verification of each group's
    root (every group has its own root, so the cache helps only within a group).
    """
    items = [("submit_message", statement(i), f"v-{i}") for i in range(n)]
    single = [signer(USA)(*item) for item in items]
    batched = [c for g in groups(items) for c in batch_signer(USA)(g)]
    key = USA.signing.verifying_key
    timings = []
    for commands in (single, batched):
        began = time.perf_counter()
        for command in commands:
            command.verify(key)
        timings.append((time.perf_counter() - began) / n * 1e6)
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2,000 messages instead of 20,000")
    args = parser.parse_args()
    n = 2_000 if args.quick else 20_000
    print_context(
        "bench/batch.py (batch-signed envelopes, server only, in process)", "quick" if args.quick else "full"
    )
    report = Report()
    results: dict[bool, tuple[float, Stages]] = {}
    for batched in (False, True):
        progress(f"{n:,} messages {'with' if batched else 'without'} batch signing")
        results[batched] = measure(n, batched=batched)
        rate, stages = results[batched]
        mode = "With" if batched else "Without"
        heading(f"{mode} batch signing ({n:,} messages of {PAYLOAD} B, groups of {GROUP})")
        figure("messages per second (submit + relay + receipt)", count(rate))
        for stage, seconds in stages.seconds.items():
            figure(f"  {stage}: µs per message", f"{seconds / n * 1e6:,.0f}")
    progress("verification alone")
    alone, in_batches = verification(min(n, 4_096))
    heading(f"Verification alone (SignedCommand.verify, groups of {GROUP})")
    figure("one signature per command: µs per command", f"{alone:,.1f}")
    figure("batch-signed: µs per command (root + inclusion path)", f"{in_batches:,.1f}")
    without, with_ = results[False][0], results[True][0]
    note(f"batch signing: {with_ / without:.2f}x the msg/s of one signature per command")
    report.add(
        Row(
            "msg/s, server only, with batch signing",
            count(with_),
            count(without),
            f"{with_ / without:.2f}x",
            Target(">=", TARGET_WITH, f">= {count(TARGET_WITH)}"),
            with_,
        )
    )
    report.add(Row("msg/s, server only, one signature per command", count(without), value=without))
    submit_with = n / results[True][1].seconds["submit"]
    submit_without = n / results[False][1].seconds["submit"]
    report.add(
        Row(
            "submissions/s alone (the submit stage), with batch signing",
            count(submit_with),
            count(submit_without),
            f"{submit_with / submit_without:.2f}x",
            value=submit_with,
        )
    )
    report.add(
        Row(
            "verification, µs per command, batch-signed",
            f"{in_batches:,.1f}",
            f"{alone:,.1f}",
            f"{alone / in_batches:.0f}x less",
            value=in_batches,
        )
    )
    print_summary(report, "Summary (peer: one signature per command, same run)")


if __name__ == "__main__":
    main()
