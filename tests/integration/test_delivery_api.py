"""Delivery over HTTP: lease, SSE (with resumption), long poll, settle, 429, redelivery, presence.

A real uvicorn server on 127.0.0.1 runs the app; the SDK is the client. Server and
clients share one FakeClock, so leases expire when the test says so.
"""

import contextlib
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import backchannel.api.app as api_module
from backchannel.api import create_app
from backchannel.broker import Backoff, DeliveryPolicy, Redelivered
from backchannel.domain import ReceiptItem
from backchannel.log.canonical import canonicalize
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.records import LogEntry
from backchannel.log.signing import SigningKey, VerifyingKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError, receipt_digest
from backchannel.service.delivery import DeliveryService
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.clock import FakeClock
from backchannel.testing.server import running
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

TRACK = "doha-talks"


NODE = pair(1, "qatar/service")
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
LOG_KEY = SigningKey.from_seed(b"\x09" * 32)
POLICY = DeliveryPolicy(visibility_timeout=timedelta(seconds=30), backoff=Backoff(base=timedelta(seconds=1)))


@dataclass
class Server:
    url: str
    clock: FakeClock
    store: SQLiteEventStore
    writer: LogWriter
    delivery: DeliveryService

    def client(self, keys: KeyPair) -> BackchannelClient:
        return BackchannelClient(
            self.url,
            keys.name,
            keys,
            clock=self.clock,
            pinned_log_key=self.writer.log_key,
            sleep=lambda _: None,
        )


Start = Callable[..., Server]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    stops: list[Callable[[], None]] = []

    def _start(policy: DeliveryPolicy = POLICY, tick_interval: float | None = None) -> Server:
        clock = FakeClock()
        store = SQLiteEventStore(tmp_path / f"db{len(stops)}.sqlite3")
        writer = LogWriter(store, NoteSigner("test.log", LOG_KEY), clock=clock)
        tracks = TrackService(writer, NODE, clock=clock)
        delivery = DeliveryService(tracks, NODE, policy, clock=clock)
        stack = contextlib.ExitStack()
        stack.callback(store.close)  # after the server stops
        url = stack.enter_context(
            running(
                lambda url: create_app(
                    tracks, public_origin=url, clock=clock, delivery=delivery, tick_interval=tick_interval
                ),
                lifespan=tick_interval is not None,
            )
        )
        stops.append(stack.close)
        server = Server(url, clock, store, writer, delivery)
        open_track(server)
        return server

    yield _start
    for stop in stops:
        stop()


def open_track(server: Server) -> None:
    with server.client(QATAR) as qatar:
        service_key = qatar.service_info()["service_key"]
        qatar.execute("open_track", {
            "title": "Doha", "principal_key": new_key(QATAR), "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for party, principal in (("usa", USA), ("iran", IRAN)):
            qatar.execute("admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name, "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            client.execute(
                "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
            )


def propose(client: BackchannelClient, cap: float) -> str:
    result = client.execute("submit_message", {
        "kind": "proposal", "body": {"values": {"enrichment_cap_pct": cap}}, "priority": "routine",
        "in_reply_to": None, "annexes": [], "agenda_version": 1,
    }, track=TRACK)  # fmt: skip
    return str(result["events"][0]["command_digest"])  # a message id is its command digest


def forward(qatar: BackchannelClient, message_id: str, to: str = "iran") -> int:
    result = qatar.execute("forward_message", {"message_id": message_id, "to_parties": [to]}, track=TRACK)
    return int(result["first_index"])


def check_forwarded(client: BackchannelClient, delivery: dict[str, Any], author: KeyPair) -> None:
    """What a recipient checks: leaf hash, inclusion, the author's command and signature."""
    entry = delivery["entry"]
    decoded = LogEntry.from_dict({"signed": entry["signed"], "salt": entry["salt"]})
    assert decoded.leaf_hash.hex() == entry["leaf_hash"]
    assert decoded.seq == entry["index"] == delivery["log_index"]
    assert decoded.signed.event.type == "message.forwarded"
    assert decoded.signed.event.body["event"]["message_id"] == delivery["message_id"]  # type: ignore[index,call-overload]
    client.log.verify_inclusion(TRACK, entry["index"], entry["leaf_hash"])
    original = SignedCommand.from_dict(delivery["original"])
    assert original.digest.hex() == delivery["message_id"]
    original.verify(VerifyingKey(author.signing.verifying_key.public_bytes))


def test_propose_forward_lease_stream_resume_poll_settle(start: Start) -> None:
    server = start()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        first = propose(usa, 3.67)

        (submitted,) = qatar.inbox.lease(TRACK)  # the mediator's queue holds the submission
        assert submitted["message_id"] == first
        assert submitted["attempt"] == 1
        assert submitted["entry"]["signed"]["event"]["type"] == "message.submitted"
        assert submitted["original"] is None
        assert iran.inbox.lease(TRACK) == []  # nothing forwarded yet

        first_index = forward(qatar, first)
        assert qatar.inbox.lease(TRACK) == []  # acted on: it left the mediator's queue

        # SSE: the forward arrives as one event whose id is its log index.
        streamed = list(iran.inbox.stream(TRACK, timeout=0.5))
        assert [d["message_id"] for d in streamed] == [first]
        assert streamed[0]["log_index"] == first_index
        assert streamed[0]["priority"] == "routine"
        check_forwarded(iran, streamed[0], USA)

        # Resumption: a second message is streamed; a reconnect naming only the first
        # as seen gets the second again (leased, unsettled, possibly missed); naming the
        # second gets nothing.
        second = propose(usa, 4.0)
        second_index = forward(qatar, second)
        assert [
            d["message_id"] for d in iran.inbox.stream(TRACK, last_event_id=first_index, timeout=0.3)
        ] == [second]
        again = list(iran.inbox.stream(TRACK, last_event_id=first_index, timeout=0.3))
        assert [(d["message_id"], d["log_index"], d["attempt"]) for d in again] == [(second, second_index, 1)]
        assert list(iran.inbox.stream(TRACK, last_event_id=second_index, timeout=0.3)) == []

        # Long poll: empty after its timeout, then woken by a forward.
        began = time.monotonic()
        assert iran.inbox.poll(TRACK, timeout=0.3) == []
        assert time.monotonic() - began >= 0.25
        third = propose(usa, 5.0)
        timer = threading.Timer(0.3, forward, args=(qatar, third))
        timer.start()
        began = time.monotonic()
        polled = iran.inbox.poll(TRACK, timeout=20)
        timer.join()
        assert [d["message_id"] for d in polled] == [third]
        assert time.monotonic() - began < 10
        check_forwarded(iran, polled[0], USA)

        # Plain lease.
        fourth = propose(usa, 6.0)
        fourth_index = forward(qatar, fourth)
        (leased,) = iran.inbox.lease(TRACK, max_n=5)
        assert leased["message_id"] == fourth

        # Settle all four with one receipt, each at the index that delivered it (deliveries
        # as leased, or pairs); a duplicate is a no-op.
        delivered = [(first, first_index), (second, second_index), polled[0], leased]
        settled = iran.inbox.settle(TRACK, delivered)
        assert settled["replayed"] is False
        (receipt,) = settled["events"]
        assert receipt["type"] == "receipt.recorded"
        pairs = [
            (first, first_index),
            (second, second_index),
            (third, polled[0]["log_index"]),
            (fourth, fourth_index),
        ]
        assert receipt["items"] == [list(p) for p in pairs]
        assert receipt["receipt_digest"] == receipt_digest(pairs).hex()
        assert iran.inbox.settle(TRACK, pairs)["replayed"] is True

        # Nothing more, even after every lease would have expired.
        server.clock.advance(timedelta(minutes=5))
        assert server.delivery.tick(TRACK) == []
        assert iran.inbox.lease(TRACK) == []
        assert list(iran.inbox.stream(TRACK, last_event_id=0, timeout=0.2)) == []
        assert iran.inbox.poll(TRACK, timeout=0.2) == []


def test_receipt_digest_is_order_and_duplicate_independent() -> None:
    a, b = "aa" * 32, "bb" * 32
    assert receipt_digest([(b, 9), (a, 7), (a, 7)]) == receipt_digest([(a, 7), (b, 9)])
    assert receipt_digest([(a, 7), (b, 9)]) == hashlib.sha256(canonicalize([[a, 7], [b, 9]])).digest()
    assert receipt_digest([(a, 7)]) != receipt_digest([(a, 8)])
    delivery = {"message_id": a, "log_index": 7, "priority": "routine"}
    assert receipt_digest([delivery]) == receipt_digest([ReceiptItem(a, 7)]) == receipt_digest([(a, 7)])


def test_a_receipt_naming_another_index_is_refused_with_the_field(start: Start) -> None:
    server = start()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        message = propose(usa, 3.67)
        index = forward(qatar, message)
        with pytest.raises(ProblemError) as info:
            iran.inbox.settle(TRACK, [(message, index - 1)])
        assert info.value.status == 422
        assert info.value.problem["violations"] == [
            {
                "field": "items.0.log_index",
                "rule": "delivery_index",
                "message": f"items.0.log_index: message {message} was delivered to iran "
                f"at log index {index}, not {index - 1}",
            }
        ]
        body = {"items": [[message, index]], "receipt_digest": "00" * 32}
        with pytest.raises(ProblemError) as info:
            iran.execute("record_receipt", body, track=TRACK)
        assert info.value.status == 422
        assert [v["field"] for v in info.value.problem["violations"]] == ["receipt_digest"]
        assert "sorted by message id" in info.value.problem["detail"]
        assert iran.inbox.settle(TRACK, [(message, index)])["replayed"] is False


def test_the_sender_fetches_and_verifies_proof_of_receipt(start: Start) -> None:
    server = start(DeliveryPolicy(max_attempts=1, visibility_timeout=timedelta(seconds=30)))
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        settled = propose(usa, 3.67)
        settled_at = forward(qatar, settled)
        late = propose(usa, 4.0)
        late_at = forward(qatar, late)
        (proof,) = usa.log.receipt_proofs(TRACK, settled)
        assert (proof.party, proof.status, proof.delivery_index, proof.settled) == (
            "iran",
            "pending",
            settled_at,
            False,
        )

        receipt_at = iran.inbox.settle(TRACK, [(settled, settled_at)])["first_index"]
        (proof,) = usa.log.receipt_proofs(TRACK, settled)
        assert (proof.status, proof.log_index, proof.signer, proof.key_id) == (
            "settled", receipt_at, IRAN.name, IRAN.signing.key_id,
        )  # fmt: skip
        assert proof.checkpoint_size == usa.log.checkpoint(TRACK).size
        assert proof.receipt is not None
        proof.receipt.verify(VerifyingKey(IRAN.signing.verifying_key.public_bytes))  # iran's own signature
        assert proof.receipt.payload["body"]["items"] == [[settled, settled_at]]
        assert qatar.log.receipt_proofs(TRACK, settled)[0].log_index == receipt_at  # the mediator may ask too

        # the recipient, and anyone asking about a message that does not exist, get the same 404
        for client, message_id in ((iran, settled), (usa, "ab" * 32)):
            with pytest.raises(ProblemError) as info:
                client.log.receipt_proofs(TRACK, message_id)
            assert (info.value.status, info.value.type.rsplit("/", 1)[-1]) == (404, "not-found")

        # a delivery that gave up is shown as such, still proven delivered
        assert [d["message_id"] for d in iran.inbox.lease(TRACK)] == [late]
        server.clock.advance(timedelta(minutes=1))
        server.delivery.tick(TRACK)
        (proof,) = usa.log.receipt_proofs(TRACK, late)
        assert (proof.status, proof.delivery_index, proof.log_index) == ("dead_lettered", late_at, None)


def test_a_full_queue_is_429_with_retry_after(start: Start) -> None:
    server = start(DeliveryPolicy(queue_limit=1, visibility_timeout=timedelta(seconds=7)))
    with server.client(USA) as usa:
        propose(usa, 3.0)
        size = server.store.size(TRACK)
        with pytest.raises(ProblemError) as info:
            propose(usa, 3.5)
    assert info.value.status == 429
    assert info.value.type.endswith("/would-block")
    assert info.value.retry_after == 7
    assert info.value.problem["retry_after"] == 7
    assert server.store.size(TRACK) == size  # nothing was appended


def test_redelivery_after_the_visibility_timeout(start: Start) -> None:
    server = start()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        message = propose(usa, 3.67)
        forward(qatar, message)
        (first,) = iran.inbox.lease(TRACK)
        assert first["attempt"] == 1
        server.clock.advance(timedelta(seconds=20))
        assert server.delivery.tick(TRACK) == []
        assert iran.inbox.lease(TRACK) == []  # still leased

        server.clock.advance(timedelta(seconds=11))  # past the 30 s visibility timeout
        (outcome,) = server.delivery.tick(TRACK)
        assert isinstance(outcome, Redelivered)
        server.clock.advance(timedelta(seconds=1))  # the backoff
        (second,) = iran.inbox.lease(TRACK)
        assert (second["message_id"], second["attempt"]) == (message, 2)
        assert second["log_index"] == first["log_index"]


def test_the_lifespan_ticker_redelivers_without_clients(start: Start) -> None:
    server = start(tick_interval=0.05)
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        message = propose(usa, 3.67)
        forward(qatar, message)
        assert [d["attempt"] for d in iran.inbox.lease(TRACK)] == [1]
        server.clock.advance(timedelta(seconds=32))  # expiry plus backoff; the ticker does the rest
        polled = iran.inbox.poll(TRACK, timeout=10)
    assert [(d["message_id"], d["attempt"]) for d in polled] == [(message, 2)]


def test_the_stream_is_event_stream_with_keep_alives(start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api_module, "KEEPALIVE_SECONDS", 0.1)
    server = start()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        index = forward(qatar, propose(usa, 3.67))
        request = iran.signed_request("GET", f"/v1/tracks/{TRACK}/inbox/stream", params={"timeout": 0.5})
        response = iran.send_request(request)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    text = response.text
    assert f"id: {index}\nevent: delivery\ndata: {{" in text
    assert ": keep-alive\n\n" in text

    with server.client(IRAN) as iran:
        request = iran.signed_request("GET", f"/v1/tracks/{TRACK}/inbox/stream")
        request.headers["Last-Event-ID"] = "not-a-number"
        assert iran.send_request(request).status_code == 400


def test_presence_is_for_the_mediator_only(start: Start) -> None:
    server = start()
    with server.client(QATAR) as qatar, server.client(USA) as usa, server.client(IRAN) as iran:
        beat = iran.inbox.heartbeat(TRACK)
        assert (beat["member"], beat["party"]) == ("iran/principal", "iran")
        parties = {p["party"]: p for p in qatar.inbox.presence(TRACK)}
        assert parties["iran"]["status"] == "online"
        assert parties["iran"]["members_online"] == ["iran/principal"]
        assert parties["usa"]["status"] == "never_seen"
        for outsider in (usa, iran):
            with pytest.raises(ProblemError) as info:
                outsider.inbox.presence(TRACK)
            assert info.value.status == 403
            assert info.value.type.endswith("/not-authorized")
        server.clock.advance(timedelta(minutes=2))  # past the heartbeat window
        assert {p["party"]: p["status"] for p in qatar.inbox.presence(TRACK)}["iran"] == "silent"
