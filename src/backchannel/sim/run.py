"""One seeded run of a scenario: the real service, simulated clients, faults, invariants.

:func:`run_scenario` derives every random stream from one
``numpy.random.default_rng(seed)`` (spawned children: the fault schedule, the
log's leaf salts, the clients' nonces and idempotency keys), builds a
:class:`~backchannel.sim.node.SimNode` on virtual time, gives each member a
real :class:`~backchannel.sdk.client.BackchannelClient` over a
:class:`~backchannel.sim.network.SimTransport`, opens the track, plays the
scripted moves under the fault schedule, heals the network, lets every party
drain its inbox, and checks the invariants (:mod:`backchannel.sim.invariants`).
Keys come from fixed seeds (the member's name), not from the run's seed.

This module does not shrink schedules (:mod:`backchannel.sim.shrink`) or sweep
seeds (:mod:`backchannel.sim.sweep`).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.sdk.inbox import receipt_digest, receipt_items
from backchannel.sim.clock import SkewedClock, VirtualClock, entropy
from backchannel.sim.faults import Fault, draw_faults, wire_for
from backchannel.sim.invariants import Observations, check_invariants
from backchannel.sim.network import Network, SimTransport
from backchannel.sim.node import ORIGIN, AppFactory, SimNode, seeded_key
from backchannel.sim.scenario import Scenario
from backchannel.store.base import EventStore

__all__ = ["RunResult", "deal_terms", "run_scenario"]

_MAX_SENDS = 40
"""How many times the runner re-sends one signed command before it gives up (bounded)."""
_RETRY_WAIT = 1.0
_DEAL_WINDOW = timedelta(minutes=30)


@dataclass
class RunResult:
    """What one run did.

    Attributes:
        scenario: The scenario's name.
        seed: The seed.
        faults: The fault schedule applied.
        root: The final checkpoint's root hash (hex).
        size: The final log size.
        commands: Command POSTs sent (including retries).
        virtual_seconds: Virtual time simulated.
        latencies: Priority -> acknowledgement latencies (seconds from queued to receipt).
        violations: The invariants broken (empty when all hold).
        refused: Commands the service refused (4xx), as ``command: type: detail``.
        network: Requests that reached the service, duplicates it answered and
            (re)starts of the service.
        attacks: What each forged command got (the key-compromise move).
    """

    scenario: str
    seed: int
    faults: list[Fault]
    root: str = ""
    size: int = 0
    commands: int = 0
    virtual_seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    network: dict[str, int] = field(default_factory=dict)
    attacks: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "faults": [f.to_dict() for f in self.faults],
            "root": self.root,
            "size": self.size,
            "commands": self.commands,
            "virtual_seconds": self.virtual_seconds,
            "latencies": self.latencies,
            "violations": self.violations,
            "refused": self.refused,
            "network": self.network,
            "attacks": self.attacks,
        }


def _outcome(result: Mapping[str, Any] | None) -> str:
    return "refused" if result is None else f"appended at {result.get('first_index')}"


def _member_keys(scenario: Scenario) -> dict[str, KeyPair]:
    return {m: seeded_key(m, hashlib.sha256(f"sim-key:{m}".encode()).digest()) for m in scenario.members}


def deal_terms(table: Mapping[str, Any]) -> dict[str, JSONValue]:
    """A deal as TOML writes it (``[[phases]]`` of ``[[steps]]``, no nulls) as the wire takes it."""
    phases: list[JSONValue] = []
    for phase in table.get("phases", []):
        steps: list[JSONValue] = []
        for step in phase.get("steps", []):
            quantity = dict(step.get("quantity", {}))
            steps.append({
                "party": step["party"], "action": step["action"], "issue": step.get("issue"),
                "quantity": {"value": quantity.get("value"), "unit": quantity.get("unit")},
                "conditions": list(step.get("conditions", [])),
            })  # fmt: skip
        phases.append(steps)
    return {"id": table["id"], "title": table.get("title", table["id"]), "phases": phases}


class _Run:
    """The state of one run (clients, observations, labels of messages and deals)."""

    def __init__(  # noqa: PLR0913 - what to run, then where, keyword-only
        self,
        scenario: Scenario,
        seed: int,
        make_app: AppFactory,
        *,
        faults: Sequence[Fault] | None,
        store: EventStore | None,
        sqlite: Path | None = None,
    ) -> None:
        root = np.random.default_rng(seed)
        fault_rng, salt_rng, client_rng = root.spawn(3)
        self.scenario = scenario
        self.track = scenario.track
        count = len(scenario.moves) + 3 * len(scenario.parties)
        drawn = draw_faults(
            fault_rng,
            scenario.random_faults,
            kinds=scenario.fault_kinds,
            commands=count,
            parties=[p.name for p in scenario.parties[1:]],
            members=scenario.members,
        )
        self.faults = (
            list(faults) if faults is not None else sorted([*scenario.scheduled, *drawn], key=lambda f: f.at)
        )
        self.clock = VirtualClock()
        self.node = SimNode(
            make_app,
            clock=self.clock,
            salts=entropy(salt_rng),
            key_seed=hashlib.sha256(b"sim-node").digest(),
            store=store,
            sqlite=sqlite,
        )
        self.net = Network(self.node, plan=lambda _m, _v, _p, number: wire_for(self.faults, number))
        self.keys = _member_keys(scenario)
        draw = self.draw = entropy(client_rng)
        skews = {f.party: f.seconds for f in self.faults if f.kind == "skew"}
        self.clients = {
            m: BackchannelClient(
                ORIGIN, m, k, transport=SimTransport(self.net, m),
                clock=SkewedClock(self.clock, skews.get(m, 0.0)),
                entropy=draw, sleep=self.clock.advance, pinned_log_key=self.node.log_key,
            )
            for m, k in self.keys.items()
        }  # fmt: skip
        self.offline_until: dict[str, float] = {}
        self.struck: set[int] = set()
        self.obs = Observations()
        self.messages: dict[str, str] = {}
        self.result = RunResult(scenario.name, seed, self.faults)

    # --- the network over time ------------------------------------------
    def _update_offline(self) -> None:
        for number, fault in enumerate(self.faults):
            if fault.kind == "offline" and fault.at <= self.net.commands and number not in self.struck:
                self.struck.add(number)
                until = self.clock.elapsed() + fault.seconds
                self.offline_until[fault.party] = max(until, self.offline_until.get(fault.party, 0.0))
        now = self.clock.elapsed()
        self.net.offline = {p for p, until in self.offline_until.items() if until > now}

    def _wait_online(self, member: str) -> None:
        party = member.split("/", maxsplit=1)[0]
        self._update_offline()
        if party in self.net.offline:
            self.clock.advance(self.offline_until[party] - self.clock.elapsed())
            self._update_offline()

    # --- commands ---------------------------------------------------------
    def command(self, member: str, name: str, body: Mapping[str, JSONValue]) -> dict[str, Any] | None:
        """Sign once, send until answered (the same signed command each time); ``None`` if refused."""
        self._wait_online(member)
        client = self.clients[member]
        signed = client.sign(name, body, track=self.track, idempotency_key=client.new_idempotency_key())
        return self._send(member, signed)

    def _send(
        self, member: str, signed: SignedCommand, client: BackchannelClient | None = None
    ) -> dict[str, Any] | None:
        client = client or self.clients[member]
        for _ in range(_MAX_SENDS):
            self._update_offline()
            try:
                result = client.send_command(signed)
            except httpx.TransportError:
                self.clock.advance(_RETRY_WAIT)
                self._wait_online(member)
                continue
            except ProblemError as e:
                if e.status in {
                    401,
                    429,
                    500,
                    503,
                }:  # replay rule after a restart, budget, failed append: resend
                    self.clock.advance(_RETRY_WAIT)
                    continue
                detail = str(e.problem.get("detail", ""))[:160]
                self.result.refused.append(f"{signed.command}: {e.type.rsplit('/', 1)[-1]}: {detail}")
                return None
            self.obs.acknowledge(signed, result)
            return result
        self.result.refused.append(f"{signed.command}: gave up after {_MAX_SENDS} sends")
        return None

    def read(self, member: str, call: Any) -> Any:  # noqa: ANN401 - whatever the read returns
        """A read (lease, deal view) retried while the network or service is down (bounded)."""
        for _ in range(_MAX_SENDS):
            self._wait_online(member)
            try:
                return call(self.clients[member])
            except httpx.TransportError:
                self.clock.advance(_RETRY_WAIT)
        return None

    # --- the script ---------------------------------------------------------
    def open_track(self) -> None:
        """The mediator opens the track, admits every party, enrols members; the agenda is ratified."""
        sc = self.scenario
        med = f"{sc.mediator.name}/{sc.mediator.members[0]}"
        self.command(med, "open_track", {
            "title": sc.title or sc.name, "principal_key": enrolment_key(self.keys[med]),
            "service_key": enrolment_key(self.node.keys),
        })  # fmt: skip
        for party in sc.parties[1:]:
            principal = f"{party.name}/{party.members[0]}"
            self.command(med, "admit_party", {
                "party": party.name, "kind": party.kind, "principal": principal,
                "principal_key": enrolment_key(self.keys[principal]),
            })  # fmt: skip
            for extra in party.members[1:]:
                self.command(principal, "enroll_member", {
                    "new_member": f"{party.name}/{extra}", "role": "delegate",
                    "new_key": enrolment_key(self.keys[f"{party.name}/{extra}"]),
                })  # fmt: skip
        if sc.agenda is not None:
            self.command(med, "propose_agenda", {"agenda": sc.agenda.to_dict()})
            ratify: dict[str, JSONValue] = {"version": 1, "agenda_digest": agenda_digest(sc.agenda).hex()}
            for party in sc.parties[1:]:
                if party.kind == "delegation":
                    self.command(f"{party.name}/{party.members[0]}", "ratify_agenda", ratify)

    def play(self, move: Mapping[str, Any]) -> None:
        """Play one scripted move."""
        do = move["do"]
        if do == "wait":
            self.clock.advance(float(move["seconds"]))
        elif do == "submit":
            self.submit(move)
        elif do in {"relay", "reframe"}:
            self.relay(move)
        elif do == "receive":
            self.receive(str(move["by"]))
        elif do == "hold":
            self.receive(str(move["by"]), hold=float(move["seconds"]))
        elif do == "compromise":
            self.compromise(str(move["by"]), str(move["victim"]))
        elif do == "prepare_deal":
            deadline = format_timestamp(self.clock.now() + _DEAL_WINDOW)
            self.command(
                str(move["by"]), "prepare_deal", {"deal": deal_terms(move["deal"]), "deadline": deadline}
            )
        else:
            self.vote(move)
        self.clock.advance(float(move.get("think", 1.0)))
        self.node.tick(self.track) if self.node.up else None

    def submit(self, move: Mapping[str, Any]) -> None:
        """A delegation submits a message to the mediator."""
        kind = str(move.get("kind", "proposal"))
        body: dict[str, JSONValue] = {
            "kind": kind, "body": {"values": move.get("values", {}), "note": move.get("note", "")},
            "priority": move.get("priority", "routine"), "in_reply_to": None, "annexes": [],
            "agenda_version": 1 if kind in {"proposal", "counter_proposal"} else None,
        }  # fmt: skip
        result = self.command(str(move["by"]), "submit_message", body)
        if result is not None and "as" in move:
            self.messages[str(move["as"])] = str(result["events"][0]["command_digest"])

    def relay(self, move: Mapping[str, Any]) -> None:
        """The mediator takes a submission from its queue and forwards it verbatim, or reframes it."""
        by, message = str(move["by"]), self.messages.get(str(move["message"]))
        if message is None:
            return  # its submission was refused: nothing to relay
        self.read(by, lambda c: c.inbox.lease(self.track))
        to: list[JSONValue] = list(move["to"])
        if move["do"] == "relay":
            self.command(by, "forward_message", {"message_id": message, "to_parties": to})
            return
        body: dict[str, JSONValue] = {"values": move.get("values", {}), "note": move.get("note", "")}
        self.command(by, "reframe_message", {
            "message_id": message, "to_parties": to, "body": body, "annexes": [], "agenda_version": 1,
        })  # fmt: skip

    def receive(self, member: str, hold: float = 0.0) -> int:
        """Lease the party's deliveries and settle them with one receipt; return how many.

        ``hold``: a slow consumer keeps its leases that many seconds (its credit
        held; the service may redeliver meanwhile) before it settles them.
        """
        deliveries = self.read(member, lambda c: c.inbox.lease(self.track)) or []
        party = member.split("/", maxsplit=1)[0]
        self.obs.leased(party, deliveries)
        if not deliveries:
            return 0
        if hold > 0:
            self.clock.advance(hold)
            self.node.tick(self.track)
        client = self.clients[member]
        pairs = receipt_items((str(d["message_id"]), int(d["log_index"])) for d in deliveries)
        body: dict[str, JSONValue] = {
            "items": [item.to_json() for item in pairs],
            "receipt_digest": receipt_digest(pairs).hex(),
        }
        self._wait_online(member)
        signed = client.sign(
            "record_receipt", body, track=self.track, idempotency_key=client.new_idempotency_key()
        )
        if self._send(member, signed) is not None:
            self.obs.settled(party, deliveries)
        return len(deliveries)

    def compromise(self, principal: str, victim: str) -> None:
        """An attacker holding ``victim``'s key signs; ``principal`` revokes it; the attacker signs again.

        What the attacker signs before the revocation is indistinguishable from the
        victim's own and is appended; what it signs after must be refused (the
        invariant checks the log: nothing signed with a key after its revocation).
        """
        attacker = BackchannelClient(
            ORIGIN, victim, self.keys[victim], transport=SimTransport(self.net, "attacker/x"),
            clock=SkewedClock(self.clock), entropy=self.draw, sleep=self.clock.advance,
        )  # fmt: skip
        forged: dict[str, JSONValue] = {
            "kind": "statement", "body": {"values": {}, "note": "forged: we withdraw"}, "priority": "flash",
            "in_reply_to": None, "annexes": [], "agenda_version": None,
        }  # fmt: skip
        try:
            before = self._send(victim, attacker.sign("submit_message", forged, track=self.track), attacker)
            self.result.attacks.append(f"forged as {victim} before revocation: " + _outcome(before))
            key_id = self.keys[victim].signing.key_id
            self.command(principal, "revoke_key", {"subject": victim, "revoked_key_id": key_id})
            try:
                after = attacker.send_command(attacker.sign("submit_message", forged, track=self.track))
            except ProblemError as e:
                self.result.attacks.append(f"forged as {victim} after revocation: refused {e.status}")
            else:
                self.obs.acknowledge(attacker.sign("submit_message", forged, track=self.track), after)
                self.result.attacks.append(f"forged as {victim} after revocation: ACCEPTED")
        finally:
            attacker.close()

    def vote(self, move: Mapping[str, Any]) -> None:
        """A principal reads the deal, checks its hash and votes."""
        by, deal = str(move["by"]), str(move["deal"])
        try:
            view = self.read(by, lambda c: c.deals.get(self.track, deal))
        except ProblemError:
            return  # the deal was never prepared (its command was refused)
        if view is None:
            return
        body: dict[str, JSONValue] = {
            "deal_id": deal,
            "deal_hash": view["deal_hash"],
            "vote": str(move.get("vote", "yes")),
        }
        self.command(by, "vote_deal", body)

    def finish(self) -> None:
        """Heal everything, let each party drain its inbox, then check the invariants."""
        self.offline_until.clear()
        self.net.offline.clear()
        self.faults = [f for f in self.faults if f.at <= self.net.commands or f.kind == "skew"]
        if not self.node.up:
            self.clock.advance(max(0.0, (self.net.restart_at or 0.0) - self.clock.elapsed()))
            self.node.restart()
        for _ in range(8):  # bounded: each pass settles what is leased
            self.clock.advance(31.0)  # past the visibility timeout: unsettled leases come back
            self.node.tick(self.track)
            # the mediator's queue holds submissions, settled by acting on them (a relay), not by receipt
            moved = sum(self.receive(f"{p.name}/{p.members[0]}") for p in self.scenario.parties[1:])
            if not moved:
                break
        self.result.commands = self.net.commands
        self.result.network = {
            "requests": self.net.requests,
            "duplicates": len(self.net.duplicates),
            "starts": self.node.restarts,
        }
        self.result.virtual_seconds = self.clock.elapsed()
        report = check_invariants(self.node.store, self.track, self.node.log_key, self.obs)
        self.result.root, self.result.size = report.root, report.size
        self.result.violations = report.violations
        self.result.latencies = report.latencies

    def close(self) -> None:
        """Close the clients, the loop and the store."""
        for client in self.clients.values():
            client.close()
        self.node.close()


class _QuietSimulatedFaults(logging.Filter):
    """Drops the service's error logs of faults the simulator injected (``simulated: ...``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but those whose exception is a simulated fault."""
        error = record.exc_info[1] if record.exc_info else None
        return not (error is not None and str(error).startswith("simulated:"))


_QUIET = _QuietSimulatedFaults()
_SERVICE_LOGGERS = ("backchannel.api.errors", "backchannel.api.app")


def run_scenario(  # noqa: PLR0913 - what to run, then keyword-only variations
    scenario: Scenario,
    seed: int,
    make_app: AppFactory,
    *,
    faults: Sequence[Fault] | None = None,
    store: EventStore | None = None,
    sqlite: bool = False,
) -> RunResult:
    """Run ``scenario`` once under ``seed``.

    Args:
        scenario: The scenario.
        seed: The seed every random choice derives from.
        make_app: Builds the HTTP app (``backchannel.api.create_app``).
        faults: A fault schedule to use instead of the one the seed draws (shrinking).
        store: A store to run on (tests pass a deliberately broken one).
        sqlite: Run on a SQLite file in a temporary directory (deleted afterwards)
            instead of the memory store.

    Returns:
        What happened, with the invariants' verdict.
    """
    if not sqlite or store is not None:
        return _play(_Run(scenario, seed, make_app, faults=faults, store=store))
    with tempfile.TemporaryDirectory(prefix="backchannel-sim-") as scratch:
        path = Path(scratch) / "sim.sqlite3"
        return _play(_Run(scenario, seed, make_app, faults=faults, store=None, sqlite=path))


def _play(run: _Run) -> RunResult:
    """Play a prepared run to the end and close it."""
    scenario = run.scenario
    loggers = [logging.getLogger(name) for name in _SERVICE_LOGGERS]
    for logger in loggers:
        logger.addFilter(_QUIET)
    try:
        run.open_track()
        for move in scenario.moves:
            run.play(move)
        run.finish()
    finally:
        run.close()
        for logger in loggers:
            logger.removeFilter(_QUIET)
    return run.result
