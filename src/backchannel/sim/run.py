"""One seeded run of a scenario: the real service, simulated clients, faults, invariants.

:func:`run_scenario` derives every random stream from one
``numpy.random.default_rng(seed)`` (spawned children: the fault schedule, the
log's leaf salts, the clients' nonces and idempotency keys), builds a
:class:`~backchannel.sim.node.SimNode` on virtual time, gives each member a
real :class:`~backchannel.sdk.client.BackchannelClient` over a
:class:`~backchannel.sim.network.SimTransport`, opens the track, plays the
moves (:mod:`backchannel.sim.script`) under the fault schedule, heals the
network, lets every party drain its inbox, checks the invariants
(:mod:`backchannel.sim.invariants`) and measures the SLO figures: acknowledgement
latency per priority, the time the service takes to show an offline party
silent (parties heart-beat when the scenario says so), and the time from a
message being queued to its escalation. Keys come from fixed seeds (the
member's name), not from the run's seed.

This module does not shrink schedules (:mod:`backchannel.sim.shrink`) or sweep
seeds (:mod:`backchannel.sim.sweep`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from backchannel.broker import DeliveryPolicy
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.sim.agents import AgentPlayers
from backchannel.sim.clock import SkewedClock, VirtualClock, entropy
from backchannel.sim.faults import Fault, draw_faults, wire_for
from backchannel.sim.invariants import Observations, check_invariants
from backchannel.sim.network import Network, SimTransport
from backchannel.sim.node import ORIGIN, AppFactory, SimNode, seeded_key
from backchannel.sim.result import RunResult
from backchannel.sim.scenario import Scenario
from backchannel.sim.script import HELD, Moves, deal_terms
from backchannel.store.base import EventStore

__all__ = ["RunResult", "deal_terms", "run_scenario"]

_MAX_SENDS = 40
"""How many times the runner re-sends one signed command before it gives up (bounded)."""
_RETRY_WAIT = 1.0
_RESEND = frozenset({401, 429, 500, 503})
"""Statuses a request is sent again after (a second later, virtual)."""
_DRAIN_PASSES = 8


@functools.cache
def _member_key(member: str) -> KeyPair:
    """A member's key, from its name (the same in every run; derived once per process)."""
    return seeded_key(member, hashlib.sha256(f"sim-key:{member}".encode()).digest())


_NODE_SEED = hashlib.sha256(b"sim-node").digest()


def _policy(scenario: Scenario) -> DeliveryPolicy | None:
    """The scenario's delivery policy (its queue limit and credit over the defaults), if it sets one."""
    if not scenario.policy:
        return None
    default = DeliveryPolicy()
    return DeliveryPolicy(
        credit=scenario.policy.get("credit", default.credit),
        queue_limit=scenario.policy.get("queue_limit", default.queue_limit),
    )


class _Run(Moves):
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
            key_seed=_NODE_SEED,
            store=store,
            sqlite=sqlite,
            policy=_policy(scenario),
        )
        self.net = Network(self.node, plan=lambda _m, _v, _p, number: wire_for(self.faults, number))
        self.keys = {m: _member_key(m) for m in scenario.members}
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
        self.offline_since: dict[str, float] = {}
        self.struck: set[int] = set()
        self.obs = Observations()
        self.messages: dict[str, str] = {}
        self.routes: dict[str, list[str]] = {}
        self.deferred: list[dict[str, Any]] = []
        self.backlog: list[tuple[str, SignedCommand]] = []
        self.wait_problems: list[str] = []
        self.heartbeats: dict[str, float] = {}
        self.agents = AgentPlayers(scenario, seed)
        self.result = RunResult(scenario.name, seed, self.faults)
        self.timeline = self.result.timeline

    # --- the network over time ------------------------------------------
    def _update_offline(self) -> None:
        for number, fault in enumerate(self.faults):
            if fault.kind == "offline" and fault.at <= self.net.commands and number not in self.struck:
                self.struck.add(number)
                now = self.clock.elapsed()
                until = now + fault.seconds
                if fault.party not in self.net.offline:
                    self.offline_since[fault.party] = now
                self.offline_until[fault.party] = max(until, self.offline_until.get(fault.party, 0.0))
                self.timeline.append(
                    (now, fault.party.split("/")[0], "fault", f"{fault.party} offline {fault.seconds:g} s")
                )
        now = self.clock.elapsed()
        self.net.offline = {p for p, until in self.offline_until.items() if until > now}

    def absent(self, member: str) -> bool:
        """Whether ``member`` or its whole party is offline now."""
        self._update_offline()
        return member in self.net.offline or member.split("/", maxsplit=1)[0] in self.net.offline

    def stand_in(self, member: str) -> str | None:
        """The first online member of ``member``'s party (the delegate taking over), if any."""
        party = member.split("/", maxsplit=1)[0]
        for other in self.scenario.members:
            if other != member and other.split("/", maxsplit=1)[0] == party and not self.absent(other):
                return other
        return None

    def wait_online(self, member: str) -> None:
        """Let virtual time pass until ``member`` (and its party) is back."""
        if self.absent(member):
            party = member.split("/", maxsplit=1)[0]
            back = max(self.offline_until.get(member, 0.0), self.offline_until.get(party, 0.0))
            self.clock.advance(back - self.clock.elapsed())
            self._update_offline()

    def tick(self) -> None:
        """The service's due work (deliveries, escalations, deal deadlines), then what presence shows."""
        if not self.node.up:
            return
        self.node.tick(self.track)
        if self.scenario.heartbeat_seconds:
            now = self.clock.elapsed()
            for party in self.node.silent(self.track):
                since = self.offline_since.pop(party, None)
                if since is not None:
                    self.result.detect_silent.append(now - since)
                    self.timeline.append((now, party, "silent", "the service shows it silent"))

    def between_moves(self) -> None:
        """Heartbeats due, the backlog resent, and the waiting moves whose member is back."""
        self._heartbeat()
        if self.backlog:
            self.retry_backlog()
        if self.deferred:
            self.play_deferred()

    def _heartbeat(self) -> None:
        every = self.scenario.heartbeat_seconds
        if not every or not self.node.up:
            return
        now = self.clock.elapsed()
        for party in self.scenario.parties[1:]:
            if now - self.heartbeats.get(party.name, -every) < every:
                continue
            for name in party.members:
                member = f"{party.name}/{name}"
                if self.absent(member):
                    continue
                try:
                    self.clients[member].inbox.heartbeat(self.track)
                except (httpx.TransportError, ProblemError):
                    break  # the service is down or refused: the next move tries again
                self.heartbeats[party.name] = now
                break

    # --- commands ---------------------------------------------------------
    def command(self, member: str, name: str, body: Mapping[str, JSONValue]) -> dict[str, Any] | None:
        """Sign once, send until answered (the same signed command each time); ``None`` if refused."""
        self.wait_online(member)
        client = self.clients[member]
        signed = client.sign(name, body, track=self.track, idempotency_key=client.new_idempotency_key())
        return self.send(member, signed)

    def send(
        self,
        member: str,
        signed: SignedCommand,
        client: BackchannelClient | None = None,
        *,
        hold_back: bool = False,
    ) -> dict[str, Any] | None:
        """Send ``signed`` until answered; ``None`` if refused (recorded) or never answered.

        ``hold_back``: a 429 (a full queue) ends the sending at once with :data:`HELD`
        (nothing was appended; the caller resends it later) instead of being retried.
        """
        client = client or self.clients[member]
        for _ in range(_MAX_SENDS):
            self._update_offline()
            try:
                result = client.send_command(signed)
            except httpx.TransportError:
                self.clock.advance(_RETRY_WAIT)
                self.wait_online(member)
                continue
            except ProblemError as e:
                if e.status == 429 and hold_back:
                    self.result.backpressure += 1
                    return HELD
                if e.status in _RESEND:  # the replay rule after a restart, a budget, a failed append
                    self.clock.advance(_RETRY_WAIT)
                    continue
                detail = str(e.problem.get("detail", ""))[:160]
                self.result.refused.append(f"{signed.command}: {e.type.rsplit('/', 1)[-1]}: {detail}")
                self.note(member, "refused", signed.command)
                return None
            self.obs.acknowledge(signed, result)
            self.note(member, "command", signed.command)
            return result
        self.result.refused.append(f"{signed.command}: gave up after {_MAX_SENDS} sends")
        return None

    def read(self, member: str, call: Callable[[BackchannelClient], Any]) -> Any:  # noqa: ANN401 - any read
        """A read (lease, deal view) retried while the network or service is down (bounded)."""
        for _ in range(_MAX_SENDS):
            self.wait_online(member)
            try:
                return call(self.clients[member])
            except httpx.TransportError:
                self.clock.advance(_RETRY_WAIT)
            except ProblemError as e:
                if e.status not in _RESEND:
                    raise
                self.clock.advance(_RETRY_WAIT)  # e.g. signed, by a clock behind, before a restart
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

    def finish(self) -> None:
        """Show every wait, heal everything, let each party drain its inbox, then check the invariants."""
        for move in self.deferred:
            self.check_wait_shown(move)
        self.offline_until.clear()
        self.net.offline.clear()
        self.faults = [f for f in self.faults if f.at <= self.net.commands or f.kind == "skew"]
        if not self.node.up:
            self.clock.advance(max(0.0, (self.net.restart_at or 0.0) - self.clock.elapsed()))
            self.node.restart()
        self.net.release_held(all_of_them=True)
        self.play_deferred()
        mediator = f"{self.scenario.mediator.name}/{self.scenario.mediator.members[0]}"
        for _ in range(_DRAIN_PASSES):  # bounded: each pass settles what is leased
            self.clock.advance(31.0)  # past the visibility timeout: unsettled leases come back
            self.tick()
            moved = self.triage(mediator, 64) if self.routes else 0
            if self.backlog:
                self.retry_backlog()
            # the mediator's queue holds submissions, settled by acting on them (a relay), not by receipt
            moved += sum(self.receive(f"{p.name}/{p.members[0]}") for p in self.scenario.parties[1:])
            if not moved and not self.backlog:
                break
        self.result.commands = self.net.commands
        self.result.network = {
            "requests": self.net.requests,
            "duplicates": len(self.net.duplicates),
            "late": len(self.net.late),
            "starts": self.node.restarts,
        }
        self.result.virtual_seconds = self.clock.elapsed()
        report = check_invariants(self.node.store, self.track, self.node.log_key, self.obs)
        self.result.root, self.result.size = report.root, report.size
        self.result.violations = report.violations + self.wait_problems
        self.result.violations += [
            f"{s.command} held back by backpressure was never appended" for _, s in self.backlog
        ]
        self.result.violations += self._dropped()
        self.result.latencies = report.latencies
        self.result.escalate = report.escalations
        self.timeline.extend(report.timeline)
        for at, what in self.net.struck:
            self.timeline.append((at, "network", "fault", what))
        self.result.slo_misses = self.scenario.slo_misses(self.result)

    def _dropped(self) -> list[str]:
        """Crisis traffic (routed messages) never forwarded: nothing may be dropped."""
        if not self.routes:
            return []
        forwarded = set()
        for stored in self.node.store.read(self.track):
            event = stored.decode().signed.event
            inner = event.body.get("event")
            if event.type == "message.forwarded" and isinstance(inner, Mapping):
                forwarded.add(str(inner.get("message_id")))
        return [f"message {m[:12]} was dropped: never forwarded" for m in self.routes if m not in forwarded]

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
