"""The moves of a scenario: what each simulated member does, scripted or played by an agent.

:class:`Moves` is mixed into the run (:mod:`backchannel.sim.run`), which gives
it the clients, the network, the clock and the observations. Before each move
the run lets parties heart-beat, retries what backpressure held back and plays
the moves that waited for an absent member. A move by a member who is offline
(itself or its whole party) is **taken over** by an online member of the same
party when a delegate may make it (submit, receive, hold); otherwise (a vote,
which only a principal casts) it **waits**, the rest of the track goes on
asynchronously, and the run checks that the service shows the wait (the deal
view lists the absent voter as missing); it is played when the member is back.

This module does not apply faults or check the end-of-run invariants.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx

from backchannel.errors import BackchannelError
from backchannel.log.canonical import JSONValue
from backchannel.log.records import format_timestamp
from backchannel.protocol.wire import SignedCommand
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.sdk.inbox import receipt_digest, receipt_items
from backchannel.sim.clock import SkewedClock
from backchannel.sim.network import SimTransport
from backchannel.sim.node import ORIGIN

if TYPE_CHECKING:
    from backchannel.protocol.keyfile import KeyPair
    from backchannel.sim.agents import AgentPlayers
    from backchannel.sim.clock import VirtualClock
    from backchannel.sim.invariants import Observations
    from backchannel.sim.network import Network
    from backchannel.sim.node import SimNode
    from backchannel.sim.result import RunResult
    from backchannel.sim.scenario import Scenario

__all__ = ["DELEGABLE", "HELD", "Moves", "deal_terms"]

DELEGABLE = frozenset({"submit", "receive", "hold", "flood"})
"""Moves a delegate may play for an absent member of its party."""

_DEAL_WINDOW = timedelta(minutes=30)
HELD: dict[str, Any] = {"held": "back by a full queue (429)"}
"""What :meth:`Moves.send` returns for a command backpressure held back (compared by identity)."""
_URGENCY = {"flash": 0, "priority": 1, "routine": 2}
"""Each sender resends its most urgent held-back message first."""
_MAX_ATTEMPTS = 40
_TICK_EVERY = 10.0
"""Virtual seconds between the service's periodic ticks while a scenario waits."""


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


def _urgency(signed: SignedCommand) -> int:
    body = signed.payload.get("body")
    return _URGENCY.get(str(body.get("priority")) if isinstance(body, Mapping) else "", 3)


def _outcome(result: Mapping[str, Any] | None) -> str:
    return "refused" if result is None else f"appended at {result.get('first_index')}"


class Moves:
    """Every move of :data:`backchannel.sim.scenario.MOVES`; the run (a subclass) provides the rest."""

    scenario: Scenario
    track: str
    clock: VirtualClock
    node: SimNode
    net: Network
    clients: dict[str, BackchannelClient]
    keys: dict[str, KeyPair]
    obs: Observations
    result: RunResult
    draw: Callable[[int], bytes]
    messages: dict[str, str]
    routes: dict[str, list[str]]
    deferred: list[dict[str, Any]]
    backlog: list[tuple[str, SignedCommand]]
    timeline: list[tuple[float, str, str, str]]
    wait_problems: list[str]
    agents: AgentPlayers

    # --- what the run provides --------------------------------------------------
    def command(self, member: str, name: str, body: Mapping[str, JSONValue]) -> dict[str, Any] | None:
        """Sign once, send until answered; ``None`` if refused."""
        raise NotImplementedError

    def send(
        self,
        member: str,
        signed: SignedCommand,
        client: BackchannelClient | None = None,
        *,
        hold_back: bool = False,
    ) -> dict[str, Any] | None:
        """Send ``signed`` until answered (the same signed command each time); ``None`` if refused."""
        raise NotImplementedError

    def read(self, member: str, call: Callable[[BackchannelClient], Any]) -> Any:  # noqa: ANN401 - any read
        """A read retried while the network or the service is down (bounded)."""
        raise NotImplementedError

    def absent(self, member: str) -> bool:
        """Whether ``member`` (or its party) is offline now."""
        raise NotImplementedError

    def stand_in(self, member: str) -> str | None:
        """An online member of ``member``'s party who may act for it, if any."""
        raise NotImplementedError

    def wait_online(self, member: str) -> None:
        """Let virtual time pass until ``member`` is back online."""
        raise NotImplementedError

    def tick(self) -> None:
        """Run the service's due work now."""
        raise NotImplementedError

    def between_moves(self) -> None:
        """Heartbeats, backlog, waiting moves: what happens before each move."""
        raise NotImplementedError

    def note(self, member: str, kind: str, text: str) -> None:
        """A timeline row now, in ``member``'s party's lane."""
        self.timeline.append((self.clock.elapsed(), member.split("/", maxsplit=1)[0], kind, text))

    # --- one move, with takeovers and waits ---------------------------------
    def play(self, move: Mapping[str, Any]) -> None:
        """Play one move (or hand it to a stand-in, or let it wait), then let time pass."""
        self.between_moves()
        by = move.get("by")
        if self.waits_for_message(move):
            self.wait_for(str(by), move)
        elif isinstance(by, str) and self.absent(by):
            stand_in = self.stand_in(by) if move["do"] in DELEGABLE else None
            if stand_in is None:
                self.wait_for(by, move)
            else:
                self.timeline.append(
                    (self.clock.elapsed(), by.split("/")[0], "takeover", f"{stand_in} for {by}")
                )
                self.result.takeovers.append(f"{stand_in} played {move['do']} for absent {by}")
                self.perform({**move, "by": stand_in})
        else:
            self.perform(move)
        self.clock.advance(float(move.get("think", 1.0)))
        self.tick()

    def perform(self, move: Mapping[str, Any]) -> None:  # noqa: C901 - one branch per move
        """Do the move now."""
        do = move["do"]
        if do == "wait":
            self.elapse(float(move["seconds"]))
        elif do == "submit":
            self.submit(
                {**move, "values": self.agents.offer(str(move["by"]), str(move["agent"]))}
                if "agent" in move
                else move
            )
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
            body: dict[str, JSONValue] = {"deal": deal_terms(move["deal"]), "deadline": deadline}
            self.command(str(move["by"]), "prepare_deal", body)
        elif do == "flood":
            self.flood(move)
        elif do == "triage":
            self.triage(str(move["by"]), int(move.get("max", 64)))
        elif do == "verify":
            self.verify(str(move["by"]), str(move["member"]))
        else:
            self.vote(move)

    def elapse(self, seconds: float) -> None:
        """Let ``seconds`` pass as on a running service: a tick every few seconds, parties heart-beating."""
        left = seconds
        while left > 0:
            step = min(_TICK_EVERY, left)
            self.clock.advance(step)
            left -= step
            self.tick()
            self.between_moves()

    def wait_for(self, member: str, move: Mapping[str, Any]) -> None:
        """``move`` waits for ``member``; the track goes on, and the wait must show."""
        self.deferred.append(dict(move))
        self.timeline.append(
            (self.clock.elapsed(), member.split("/", maxsplit=1)[0], "waits", f"{move['do']} by {member}")
        )
        self.result.waits.append(f"{move['do']} by {member} waited from t={self.clock.elapsed():.0f}s")
        self.check_wait_shown(move)

    def check_wait_shown(self, move: Mapping[str, Any]) -> None:
        """A vote waiting for an absent principal: the mediator's view of the deal must name it missing."""
        if move["do"] != "vote":
            return
        mediator = f"{self.scenario.mediator.name}/{self.scenario.mediator.members[0]}"
        try:
            view = self.read(mediator, lambda c: c.deals.get(self.track, str(move["deal"])))
        except ProblemError:
            return  # never prepared (its command was refused): nothing waits
        if view is None or view["status"] != "preparing":
            return
        if move["by"] not in view["missing"]:
            self.wait_problems.append(
                f"deal {move['deal']} waits on absent {move['by']} without showing so "
                f"(missing: {view['missing']})"
            )

    def waits_for_message(self, move: Mapping[str, Any]) -> bool:
        """A relay of a message whose submission waits (its sender away, or held back by a full queue)."""
        if move["do"] not in {"relay", "reframe"}:
            return False
        label = str(move["message"])
        if label not in self.messages:
            return any(waiting.get("as") == label for waiting in self.deferred)
        return any(signed.digest.hex() == self.messages[label] for _, signed in self.backlog)

    def play_deferred(self) -> None:
        """Play, in order, the waiting moves whose member is back (and whose message is in)."""
        waiting, self.deferred = self.deferred, []
        for move in waiting:
            if self.absent(str(move["by"])) or self.waits_for_message(move):
                self.deferred.append(move)
            else:
                self.timeline.append(
                    (self.clock.elapsed(), str(move["by"]).split("/")[0], "back", str(move["do"]))
                )
                self.perform(move)

    # --- messages ---------------------------------------------------------------
    def submit(self, move: Mapping[str, Any]) -> None:
        """A delegation submits a message to the mediator (a full queue holds it back: resent later)."""
        by = str(move["by"])
        self.wait_online(by)
        client = self.clients[by]
        signed = client.sign(
            "submit_message",
            self.message_body(move),
            track=self.track,
            idempotency_key=client.new_idempotency_key(),
        )
        if not self.try_once(by, signed):
            self.backlog.append((by, signed))
        if "as" in move:
            self.messages[str(move["as"])] = signed.digest.hex()  # a message's id is its command's digest

    @staticmethod
    def message_body(move: Mapping[str, Any]) -> dict[str, JSONValue]:
        """The ``submit_message`` body of a move."""
        kind = str(move.get("kind", "proposal"))
        return {
            "kind": kind, "body": {"values": move.get("values", {}), "note": move.get("note", "")},
            "priority": move.get("priority", "routine"), "in_reply_to": None, "annexes": [],
            "agenda_version": 1 if kind in {"proposal", "counter_proposal"} else None,
        }  # fmt: skip

    def relay(self, move: Mapping[str, Any]) -> None:
        """The mediator takes a submission from its queue and forwards it verbatim, or reframes it."""
        by, message = str(move["by"]), self.messages.get(str(move["message"]))
        if message is None:
            return  # its submission was refused or is waiting: nothing to relay
        self.read(by, lambda c: c.inbox.lease(self.track))
        to: list[JSONValue] = list(move["to"])
        if move["do"] == "relay":
            self.command(by, "forward_message", {"message_id": message, "to_parties": to})
            return
        body: dict[str, JSONValue] = {"values": move.get("values", {}), "note": move.get("note", "")}
        self.command(by, "reframe_message", {
            "message_id": message, "to_parties": to, "body": body, "annexes": [], "agenda_version": 1,
        })  # fmt: skip

    def flood(self, move: Mapping[str, Any]) -> None:
        """``count`` submissions at once; a full queue (429) holds the rest back (backpressure)."""
        by = str(move["by"])
        client = self.clients[by]
        for n in range(int(move["count"])):
            body = self.message_body({**move, "note": f"{move.get('note', 'crisis traffic')} #{n + 1}"})
            signed = client.sign(
                "submit_message", body, track=self.track, idempotency_key=client.new_idempotency_key()
            )
            self.routes[signed.digest.hex()] = list(move.get("to", []))
            if not self.try_once(by, signed):
                self.backlog.append((by, signed))

    def try_once(self, member: str, signed: SignedCommand) -> bool:
        """Send ``signed`` until answered; ``False`` if backpressure (429) held it back (nothing appended)."""
        return self.send(member, signed, hold_back=True) is not HELD

    def retry_backlog(self) -> None:
        """Resend, most urgent first, the commands backpressure held back (the same signed commands)."""
        waiting, self.backlog = self.backlog, []
        waiting.sort(key=lambda item: _urgency(item[1]))  # stable: in order within a priority
        full = False
        for member, signed in waiting:
            # after one 429 the queue is full: the rest wait for the next pass, as Retry-After asks
            if full or self.absent(member) or not self.try_once(member, signed):
                full = full or not self.absent(member)
                self.backlog.append((member, signed))

    def triage(self, by: str, most: int) -> int:
        """The mediator leases its queue (most urgent first) and forwards each submission on its route.

        A recipient's full queue (429) stops the triage: what is left stays leased and
        comes back to the mediator's queue when the lease lapses. Returns how many it forwarded.
        """
        deliveries = self.read(by, lambda c: c.inbox.lease(self.track, max_n=most)) or []
        client = self.clients[by]
        forwarded = 0
        for delivery in deliveries:
            message = str(delivery["message_id"])
            to: list[JSONValue] = list(self.routes.get(message, []))
            if not to:
                continue  # not crisis traffic: a scripted relay acts on it
            body: dict[str, JSONValue] = {"message_id": message, "to_parties": to}
            signed = client.sign(
                "forward_message", body, track=self.track, idempotency_key=client.new_idempotency_key()
            )
            if not self.try_once(by, signed):
                break
            forwarded += 1
        return forwarded

    def receive(self, member: str, hold: float = 0.0) -> int:
        """Lease the party's deliveries and settle them with one receipt; return how many.

        ``hold``: a slow consumer keeps its leases that many seconds (its credit
        held; the service may redeliver meanwhile) before it settles them.
        """
        deliveries = self.read(member, lambda c: c.inbox.lease(self.track)) or []
        party = member.split("/", maxsplit=1)[0]
        self.obs.leased(party, deliveries)
        self.agents.shown(party, deliveries)
        if not deliveries:
            return 0
        if hold > 0:
            self.clock.advance(hold)
            self.tick()
        client = self.clients[member]
        pairs = receipt_items((str(d["message_id"]), int(d["log_index"])) for d in deliveries)
        body: dict[str, JSONValue] = {
            "items": [item.to_json() for item in pairs],
            "receipt_digest": receipt_digest(pairs).hex(),
        }
        self.wait_online(member)
        signed = client.sign(
            "record_receipt", body, track=self.track, idempotency_key=client.new_idempotency_key()
        )
        if self.send(member, signed) is not None:
            self.obs.settled(party, deliveries)
        return len(deliveries)

    # --- keys and credentials -------------------------------------------------------
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
            before = self.send(victim, attacker.sign("submit_message", forged, track=self.track), attacker)
            self.result.attacks.append(f"forged as {victim} before revocation: " + _outcome(before))
            key_id = self.keys[victim].signing.key_id
            self.command(principal, "revoke_key", {"subject": victim, "revoked_key_id": key_id})
            signed = attacker.sign("submit_message", forged, track=self.track)
            for _ in range(_MAX_ATTEMPTS):  # the network may drop it too: the attacker resends
                try:
                    after = attacker.send_command(signed)
                except httpx.TransportError:
                    self.clock.advance(1.0)
                    continue
                except ProblemError as e:
                    self.result.attacks.append(f"forged as {victim} after revocation: refused {e.status}")
                else:
                    self.obs.acknowledge(signed, after)
                    self.result.attacks.append(f"forged as {victim} after revocation: ACCEPTED")
                break
        finally:
            attacker.close()

    def verify(self, by: str, member: str) -> None:
        """``by`` re-verifies ``member``'s credentials from the log it reads (enrolled, key usable now)."""
        roster = self.read(by, lambda c: c.log.roster(self.track))
        key_id = self.keys[member].signing.key_id
        try:
            if roster is None:
                raise BackchannelError("the log could not be read")
            roster.signing_key(member, key_id, self.clock.now())
        except BackchannelError as e:
            self.result.checks.append(f"{by} could not verify {member}'s credentials: {e}")
            self.wait_problems.append(f"{member}'s credentials did not verify for {by}: {e}")
            return
        self.result.checks.append(f"{by} re-verified {member}: key {key_id[:16]} enrolled and usable")

    # --- deals -----------------------------------------------------------------------
    def vote(self, move: Mapping[str, Any]) -> None:
        """A principal reads the deal, checks its hash and votes."""
        by, deal = str(move["by"]), str(move["deal"])
        read: Callable[[BackchannelClient], Any] = lambda c: c.deals.get(self.track, deal)  # noqa: E731
        try:
            view = self.read(by, read)
        except ProblemError:
            return  # the deal was never prepared (its command was refused)
        if view is None or view["status"] != "preparing":
            return  # unreadable now, or already final (its deadline passed while the voter was away)
        body: dict[str, JSONValue] = {
            "deal_id": deal,
            "deal_hash": view["deal_hash"],
            "vote": str(move.get("vote", "yes")),
        }
        self.command(by, "vote_deal", body)
