"""A node's queues keep up with what another node appended, looking only at what it appended.

Two delivery services over one store (two nodes of one database). Commands go
through either node in a random order; at random moments a node reads its
queues, which brings them up to the log (``DeliveryService._sync``): from the
messages the new events name, or, when there are more new events than the
track has messages, from the log's whole pending set. Either way, each queue
must then hold exactly what the log holds pending for its party.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from backchannel.broker import DeliveryPolicy
from backchannel.domain import ReceiptItem, TrackState
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import receipt_digest
from backchannel.service.delivery import DeliveryService
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.world import CommandSigner, message_body, opening
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha"
NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
DELEGATIONS = {"usa": USA, "iran": IRAN}
POLICY = DeliveryPolicy(queue_limit=10_000)


class Nodes:
    def __init__(self) -> None:
        self.clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
        self.store = MemoryEventStore()
        writer = LogWriter(
            self.store, NoteSigner("test.log", SigningKey.from_seed(b"\x09" * 32)), clock=self.clock
        )
        self.tracks = [TrackService(writer, NODE, clock=self.clock) for _ in range(2)]
        self.delivery = [DeliveryService(t, NODE, POLICY, clock=self.clock) for t in self.tracks]
        self.signer = CommandSigner(self.clock, TRACK)
        for who, command, body in opening(QATAR, NODE, (USA, IRAN), agenda=None):
            self.run(0, who, command, body)

    def run(self, n: int, who: KeyPair, command: str, body: dict[str, Any]) -> Any:
        self.clock.advance(timedelta(seconds=1))
        return self.delivery[n].submit(self.signer.sign(who, command, body))

    def state(self) -> TrackState:
        state = self.tracks[0].state(TRACK)
        assert state is not None
        return state

    def check(self, n: int) -> None:
        """Node ``n``'s queues hold exactly what the log holds pending."""
        queued = {party: stats.queued for party, stats in self.delivery[n].statistics(TRACK).items()}
        state = self.state()
        expected = {party: len(state.pending_for(party)) for party in state.parties}
        expected[state.mediator] = len(state.awaiting_relay())
        assert queued == expected


def step(nodes: Nodes, rng: random.Random) -> None:
    """One random command, valid on the log's state, through a random node."""
    n, state = rng.randrange(2), nodes.state()
    sender = rng.choice(sorted(DELEGATIONS))
    waiting = sorted(m.message_id for m in state.awaiting_relay())
    pending = state.pending_for(sender)
    roll = rng.random()
    if roll < 0.4 or not (waiting or pending):
        body = message_body("statement", {"text": f"from {sender} #{nodes.signer.counter}"})
        nodes.run(n, DELEGATIONS[sender], "submit_message", body)
    elif roll < 0.6 and waiting:
        message_id = rng.choice(waiting)
        to = [p for p in DELEGATIONS if p != state.message(message_id).party]
        nodes.run(n, QATAR, "forward_message", {"message_id": message_id, "to_parties": to})
    elif roll < 0.75 and waiting:
        message_id = rng.choice(waiting)
        to = [p for p in DELEGATIONS if p != state.message(message_id).party]
        body = {"message_id": message_id, "to_parties": to, "body": {"text": "reframed"}}
        nodes.run(n, QATAR, "reframe_message", {**body, "annexes": [], "agenda_version": None})
    elif pending:
        items = [
            ReceiptItem(p.message.message_id, p.delivery.log_index) for p in pending[: rng.randint(1, 3)]
        ]
        body = {
            "items": [[i.message_id, i.log_index] for i in items],
            "receipt_digest": receipt_digest(items).hex(),
        }
        nodes.run(n, DELEGATIONS[sender], "record_receipt", body)


@pytest.mark.parametrize("seed", range(6))
def test_each_node_s_queues_hold_what_the_log_holds_pending_after_any_interleaving(seed: int) -> None:
    rng = random.Random(seed)
    nodes = Nodes()
    for _ in range(120):
        step(nodes, rng)
        if rng.random() < 0.3:  # often: small deltas, only the messages they name
            nodes.check(rng.randrange(2))
    nodes.check(0)
    nodes.check(1)


def test_a_node_far_behind_rebuilds_from_the_log_s_pending_set() -> None:
    nodes = Nodes()
    nodes.check(1)  # node 1's queues are built
    sent = [
        nodes.run(0, USA, "submit_message", message_body("statement", {"text": str(i)})).events[0].message_id
        for i in range(3)
    ]
    first = nodes.run(
        0, QATAR, "forward_message", {"message_id": sent[0], "to_parties": ["iran"]}
    ).first_index
    for _ in range(4):  # more events than the track has messages
        items = [ReceiptItem(sent[0], first)]
        body = {
            "items": [[i.message_id, i.log_index] for i in items],
            "receipt_digest": receipt_digest(items).hex(),
        }
        nodes.run(0, IRAN, "record_receipt", body)  # the first settles; the rest are retries of it
    nodes.run(0, QATAR, "forward_message", {"message_id": sent[1], "to_parties": ["iran"]})
    nodes.check(1)
    assert nodes.delivery[1].statistics(TRACK)["iran"].queued == 1
    assert nodes.delivery[1].statistics(TRACK)["qatar"].queued == 1
