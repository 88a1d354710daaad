"""The invariants every run is checked against, from the store and what the clients saw.

- **acknowledged, never lost**: every command the service acknowledged is in
  the final log, each event at the index it was acknowledged at, with its type
  and time;
- **idempotent retries append nothing**: no idempotency key's command appears
  twice in the log;
- **settled, never redelivered**: no party is leased a message after the
  service acknowledged its receipt of it;
- **at most one receipt per delivery**: no (message, party) is receipted twice;
- **the log verifies offline** (:func:`~backchannel.service.export.verify_store`:
  every signature, node and checkpoint) and **every checkpoint a client saw is
  a prefix of the final log** (its root is the root of the first *size* leaves,
  so each is consistent with the one before);
- **two-phase commit is atomic**: no deal both committed and aborted, none
  committed without a YES from every voter on the prepared hash;
- **a revoked key signs nothing more**: no entry after a ``key.revoked``
  carries a command signed with that key;
- **no escrow releases before its condition holds, nor after its expiry**, and
  none is refunded before it expires (the log folded anew, each release's
  condition checked again at its instant);
- **replaying the records reproduces the obligation ladder**: each obligation's
  metered records, replayed at once by the pure engine, give the level the
  service logged after each one.

:func:`check_invariants` also measures acknowledgement latencies (queued to
receipt, virtual seconds) per priority. This module does not run anything.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backchannel.domain.agreements.escrow_book import check_escrow
from backchannel.domain.agreements.escrow_events import EscrowRefunded, EscrowReleased
from backchannel.domain.agreements.obligation_events import ObligationDefined, ObligationMetered
from backchannel.domain.agreements.obligations import instant_us, micro_from_text
from backchannel.domain.agreements.obligations_vec import replay_consumption
from backchannel.domain.events import event_from_dict
from backchannel.domain.evolve import evolve
from backchannel.domain.state import TrackState
from backchannel.errors import BackchannelError
from backchannel.log import merkle
from backchannel.log.records import LogEntry, parse_timestamp
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.wire import SignedCommand
from backchannel.service.export import verify_store
from backchannel.store.base import EventStore

__all__ = ["InvariantReport", "Observations", "check_invariants"]


@dataclass
class Observations:
    """What the simulated clients saw: acknowledgements, checkpoints, leases after settlement."""

    acks: list[tuple[str, str, int | None, list[tuple[str, str]]]] = field(default_factory=list)
    checkpoints: list[tuple[int, bytes]] = field(default_factory=list)
    settled_pairs: set[tuple[str, str]] = field(default_factory=set)
    redelivered: list[str] = field(default_factory=list)
    priorities: dict[str, str] = field(default_factory=dict)

    def acknowledge(self, signed: SignedCommand, result: Mapping[str, Any]) -> None:
        """Record an acknowledged command: its events' indexes, types and times, and its checkpoint."""
        events = [(str(e["type"]), str(e["at"])) for e in result["events"]]
        first = result.get("first_index")  # None: a replay the restarted service answers without its index
        self.acks.append(
            (signed.command, signed.idempotency_key or "", None if first is None else int(first), events)
        )
        if result.get("checkpoint"):
            lines = str(result["checkpoint"]).split("\n")
            self.checkpoints.append((int(lines[1]), base64.b64decode(lines[2])))

    def leased(self, party: str, deliveries: list[dict[str, Any]]) -> None:
        """Record a lease: any message in it already settled for ``party`` is a violation."""
        for delivery in deliveries:
            self.priorities[str(delivery["message_id"])] = str(delivery["priority"])
            if (str(delivery["message_id"]), party) in self.settled_pairs:
                self.redelivered.append(
                    f"{delivery['message_id'][:12]} redelivered to {party} after its receipt"
                )

    def settled(self, party: str, deliveries: list[dict[str, Any]]) -> None:
        """Record an acknowledged receipt."""
        self.settled_pairs.update((str(d["message_id"]), party) for d in deliveries)


@dataclass
class InvariantReport:
    """The verdict of one run: violations (empty: every invariant held), the final root and latencies."""

    root: str
    size: int
    violations: list[str]
    latencies: dict[str, list[float]]
    escalations: list[float] = field(default_factory=list)
    timeline: list[tuple[float, str, str, str]] = field(default_factory=list)


def _find(value: object, key: str) -> Iterator[Any]:
    """Every value of ``key`` anywhere in a JSON value (depth first)."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            if k == key:
                yield v
            yield from _find(v, key)
    elif isinstance(value, list):
        for item in value:
            yield from _find(item, key)


def _first(value: object, key: str) -> Any:  # noqa: ANN401 - a JSON value
    return next(_find(value, key), None)


def _acknowledged(entries: list[LogEntry], obs: Observations) -> list[str]:
    problems = []
    by_key = {(str(_event(e).get("idempotency_key")), e.signed.event.type) for e in entries}
    for command, key, first, events in obs.acks:
        for offset, (kind, at) in enumerate(events):
            if first is None:
                if (key, kind) not in by_key:
                    problems.append(f"acknowledged {command} event {kind} (key {key}) is lost")
                continue
            index = first + offset
            event = entries[index].signed.event if index < len(entries) else None
            if event is None or event.type != kind or event.created_at != at:
                problems.append(f"acknowledged {command} event {kind} at index {index} is lost")
    return problems


def _idempotent(entries: list[LogEntry]) -> list[str]:
    seen: dict[tuple[str, str], int] = {}
    problems = []
    for entry in entries:
        key = _event(entry).get("idempotency_key")
        if key is None:
            continue
        mark = (str(key), entry.signed.event.type)
        if mark in seen:
            problems.append(
                f"idempotency key {key} appended {mark[1]} twice (indexes {seen[mark]}, {entry.seq})"
            )
        seen[mark] = entry.seq
    return problems


def _receipts(entries: list[LogEntry], obs: Observations, latencies: dict[str, list[float]]) -> list[str]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    problems = []
    for entry in entries:
        event = entry.signed.event
        if event.type != "receipt.recorded":
            continue
        party = str(_event(entry).get("by", event.author)).split("/", maxsplit=1)[0]
        for item in _first(event.body, "items") or []:
            message_id, log_index = item
            pair = (str(message_id), party)
            counts[pair] += 1
            if counts[pair] == 2:
                problems.append(f"message {pair[0][:12]} has two receipts from {party}")
            queued = entries[int(log_index)].signed.event
            priority = obs.priorities.get(str(message_id), "routine")
            delay = parse_timestamp(event.created_at) - parse_timestamp(queued.created_at)
            latencies.setdefault(priority, []).append(delay.total_seconds())
    return problems


def _event(entry: LogEntry) -> Mapping[str, Any]:
    """The domain event an entry records (its ``event`` member, else its whole body)."""
    body = entry.signed.event.body
    inner = body.get("event")
    return inner if isinstance(inner, Mapping) else body


def _revoked(entries: list[LogEntry]) -> list[str]:
    """Nothing signed with a key after the entry that revoked it."""
    revoked: dict[str, int] = {}
    problems = []
    for entry in entries:
        event = _event(entry)
        if entry.signed.event.type == "key.revoked":
            revoked.setdefault(str(event["key_id"]), entry.seq)
        command = entry.signed.event.body.get("command")
        payload = command.get("payload") if isinstance(command, Mapping) else None
        key_id = payload.get("key_id") if isinstance(payload, Mapping) else None
        if key_id is not None and str(key_id) in revoked and entry.seq > revoked[str(key_id)]:
            problems.append(f"entry {entry.seq} was signed with {key_id}, revoked at {revoked[str(key_id)]}")
    return problems


def _two_phase(entries: list[LogEntry]) -> list[str]:
    outcome: dict[str, set[str]] = defaultdict(set)
    prepared: dict[str, tuple[str, frozenset[str]]] = {}
    yes: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        kind, event = entry.signed.event.type, _event(entry)
        if kind == "deal.prepared":
            deal = str(event["deal"]["id"])
            prepared[deal] = (str(event["deal_hash"]), frozenset(map(str, event["voters"])))
            yes[deal].clear()
            outcome[deal].clear()
        elif kind == "deal.voted":
            deal = str(event["deal_id"])
            if event["vote"] == "yes" and event["deal_hash"] == prepared.get(deal, ("", ()))[0]:
                yes[deal].add(str(event["by"]))
        elif kind in {"deal.committed", "deal.aborted"}:
            outcome[str(event["deal_id"])].add(kind)
    problems = []
    for deal, seen in outcome.items():
        if len(seen) > 1:
            problems.append(f"deal {deal} is both committed and aborted")
        if "deal.committed" in seen and not prepared.get(deal, ("", frozenset({""})))[1] <= yes[deal]:
            problems.append(f"deal {deal} committed without a YES on its hash from every voter")
    return problems


def _escrows(entries: list[LogEntry]) -> list[str]:
    """No escrow released before its condition holds, or after it expired; none refunded before.

    The track's events are folded anew (:func:`~backchannel.domain.evolve.evolve`) and, at each
    release, the escrow's condition is checked again (:func:`check_escrow`) on the state just before
    it, at the release's instant; at each refund, the instant must be at or past the expiry.
    """
    if not any(e.signed.event.type in {"escrow.released", "escrow.refunded"} for e in entries):
        return []
    problems = []
    state: TrackState | None = None
    for entry in entries:
        if entry.signed.event.type == KEY_REGISTERED:
            continue
        try:
            event = event_from_dict(entry.signed.event.body["event"])
        except (BackchannelError, KeyError) as e:
            return [f"entry {entry.seq} does not decode as a track event: {e}"]
        record = None if state is None else state.escrows.get(getattr(event, "escrow_id", ""))
        if isinstance(event, EscrowReleased) and state is not None:
            check = None if record is None else check_escrow(record, state.attestations, event.at)
            if check is None or not check.releasable:
                why = "no such escrow" if check is None else check.reason
                problems.append(
                    f"escrow {event.escrow_id} released at entry {entry.seq} when it may not be: {why}"
                )
        elif isinstance(event, EscrowRefunded) and record is not None and event.at < record.terms.expires_at:
            problems.append(f"escrow {event.escrow_id} refunded at entry {entry.seq}, before it expired")
        state = evolve(state, event, log_offset=entry.seq if state is None else None)
    return problems


def _ladders(entries: list[LogEntry]) -> list[str]:
    """Replaying each obligation's metered records reproduces its ladder: the level after each record.

    The records (observed time, amount) are replayed at once by the pure engine
    (:func:`~backchannel.domain.agreements.obligations_vec.replay_consumption`) from the
    obligation's start, and each level must be the one the service logged with the record.
    """
    defined: dict[str, ObligationDefined] = {}
    metered: dict[str, list[tuple[int, ObligationMetered]]] = defaultdict(list)
    for entry in entries:
        kind = entry.signed.event.type
        if kind not in {"obligation.defined", "obligation.metered"}:
            continue
        try:
            event = event_from_dict(entry.signed.event.body["event"])
        except (BackchannelError, KeyError) as e:
            return [f"entry {entry.seq} does not decode as a track event: {e}"]
        if isinstance(event, ObligationDefined):
            defined[event.spec.obligation] = event
        elif isinstance(event, ObligationMetered):
            metered[event.obligation].append((entry.seq, event))
    problems = []
    for obligation, records in metered.items():
        start = defined.get(obligation)
        if start is None:
            problems.append(f"obligation {obligation} metered but never defined")
            continue
        times = np.array([instant_us(m.observed_at) for _, m in records], dtype=np.int64)
        amounts = np.array([micro_from_text(m.amount, "amount") for _, m in records], dtype=np.int64)
        replay = replay_consumption(start.spec, times, amounts, start=instant_us(start.at))
        for (seq, record), level in zip(records, replay.levels.tolist(), strict=True):
            if record.level != level:
                problems.append(
                    f"obligation {obligation}: entry {seq} logs level {record.level}, "
                    f"the replay of its records gives {level}"
                )
    return problems


def check_invariants(store: EventStore, track: str, log_key: str, obs: Observations) -> InvariantReport:
    """Check every invariant on the final store and the clients' observations."""
    problems: list[str] = []
    try:
        verify_store(store, track, log_key)
    except BackchannelError as e:
        problems.append(f"the log does not verify offline: {e}")
    stored = list(store.read(track))
    entries = [s.decode() for s in stored]
    leaves = [s.leaf_hash for s in stored]
    latencies: dict[str, list[float]] = {}
    problems += _acknowledged(entries, obs)
    problems += _idempotent(entries)
    problems += obs.redelivered
    problems += _receipts(entries, obs, latencies)
    problems += _two_phase(entries)
    problems += _revoked(entries)
    problems += _escrows(entries)
    problems += _ladders(entries)
    for size, root in sorted(set(obs.checkpoints)):
        if size > len(leaves) or merkle.root(leaves[:size]) != root:
            problems.append(f"checkpoint {size} a client saw is not consistent with the final log")
    final = merkle.root(leaves).hex() if leaves else ""
    escalations, timeline = _history(entries)
    return InvariantReport(final, len(leaves), problems, latencies, escalations, timeline)


_SHOWN = {
    "message.submitted": "message",
    "message.forwarded": "relay",
    "message.reframed": "relay",
    "receipt.recorded": "receipt",
    "message.escalated": "escalation",
    "message.dead_lettered": "dead letter",
    "key.revoked": "key revoked",
}


def _history(entries: list[LogEntry]) -> tuple[list[float], list[tuple[float, str, str, str]]]:
    """Seconds from queueing to each escalation, and the log as timeline rows (messages, deals, alarms)."""
    start = parse_timestamp(entries[0].signed.event.created_at) if entries else None
    queued: dict[str, float] = {}
    escalations: list[float] = []
    timeline: list[tuple[float, str, str, str]] = []
    for entry in entries:
        signed_event, event = entry.signed.event, _event(entry)
        kind = signed_event.type
        at = (parse_timestamp(signed_event.created_at) - start).total_seconds() if start else 0.0
        lane = str(event.get("by", signed_event.author)).split("/", maxsplit=1)[0]
        if kind == "message.submitted":
            queued[str(event.get("command_digest", ""))] = at
        elif kind in {"message.forwarded", "message.reframed"}:
            queued[str(event.get("message_id", ""))] = at
        elif kind == "message.escalated":
            lane = str(event.get("party", lane))
            escalations.append(at - queued.get(str(event.get("message_id", "")), at))
        if kind in _SHOWN:
            priority = event.get("priority")
            timeline.append((at, lane, _SHOWN[kind], f"{kind}" + (f" ({priority})" if priority else "")))
        elif kind.startswith("deal."):
            deal = event.get("deal_id") or _first(event, "id")
            timeline.append((at, "deals", kind.removeprefix("deal."), f"{deal}: {kind}"))
    return escalations, timeline
