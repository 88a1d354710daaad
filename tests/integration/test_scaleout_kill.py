"""Three ``backchannel serve`` nodes on one store; one is ``kill -9``'d at random under load (issue #14 item 3).

Clients are spread across the nodes: usa submits, qatar long-polls and forwards to iran,
iran reads its Server-Sent Events stream (resuming with ``Last-Event-ID``, on whichever node
is up) and settles. Every round kills a random node in the middle of the load and starts it
again. After each restart:

- every acknowledged submission is in the log exactly once;
- no message iran settled is delivered to it again;
- iran's stream, resumed on other nodes, missed nothing: every acknowledged submission reached it;
- the log verifies and replays.

Bounded: three rounds of twelve messages, each wait capped; once on SQLite, once on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient
from backchannel.service.export import verify_store
from backchannel.service.tracks import replay
from backchannel.store.base import EventStore
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.cluster import Cluster
from backchannel.testing.console_world import IRAN, QATAR, USA
from backchannel.testing.world import SMALL_AGENDA, message_body

SRC = Path(__file__).resolve().parents[2] / "src"
TRACK = "scaleout"
NODES = 3
ROUNDS = 3
PER_ROUND = 12
WAIT = 60.0  # the longest a round may take to drain, in seconds


@dataclass
class Ledger:
    """What the clients saw, shared by their threads."""

    acked: dict[str, str] = field(default_factory=dict)  # idempotency key -> message id
    forwarded: set[str] = field(default_factory=set)
    delivered: dict[str, int] = field(default_factory=dict)  # message id -> log index that delivered it
    settled: set[str] = field(default_factory=set)
    redelivered: list[str] = field(default_factory=list)
    last_event_id: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)


class Members:
    """One SDK client per (member, node): each signs requests for its node's origin."""

    def __init__(self, cluster: Cluster, log_key: str) -> None:
        self.cluster = cluster
        self.rng = random.Random(14)
        self._clients = {
            (keys.name, i): BackchannelClient(cluster.url(i), keys.name, keys, pinned_log_key=log_key)
            for keys in (QATAR, USA, IRAN)
            for i in range(cluster.count)
        }
        self._lock = threading.Lock()

    def any(self, keys: KeyPair) -> BackchannelClient:
        """A client of ``keys`` on a random node that is up."""
        with self._lock:
            live = self.cluster.live() or list(range(self.cluster.count))
            return self._clients[keys.name, self.rng.choice(live)]

    def send(self, keys: KeyPair, signed: SignedCommand) -> dict[str, Any]:
        """Send one signed command to random live nodes until one answers (the same command every time)."""
        return self.retrying(keys, lambda client: client.send_command(signed))

    def retrying(self, keys: KeyPair, call: Callable[[BackchannelClient], Any]) -> Any:
        with self._lock:
            rng = random.Random(self.rng.random())  # reproducible, and safe to use on this thread
        return self.cluster.on_any_live(lambda node: call(self._clients[keys.name, node]), wait=WAIT, rng=rng)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def open_track(members: Members, service_key: dict[str, JSONValue]) -> None:
    qatar = members.any(QATAR)
    qatar.execute("open_track", {
        "title": "Scale-out", "principal_key": enrolment_key(QATAR), "service_key": service_key,
    }, track=TRACK)  # fmt: skip
    for principal in (USA, IRAN):
        qatar.execute("admit_party", {
            "party": principal.name.split("/")[0], "kind": "delegation", "principal": principal.name,
            "principal_key": enrolment_key(principal),
        }, track=TRACK)  # fmt: skip
    qatar.execute("propose_agenda", {"agenda": SMALL_AGENDA.to_dict()}, track=TRACK)
    ratify: dict[str, JSONValue] = {"version": 1, "agenda_digest": agenda_digest(SMALL_AGENDA).hex()}
    for principal in (USA, IRAN):
        members.any(principal).execute("ratify_agenda", ratify, track=TRACK)


def guarded(ledger: Ledger, work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            work()
        except BaseException as e:  # noqa: BLE001 - reported by the test, not lost in a thread
            ledger.errors.append(e)
            ledger.stop.set()

    return run


def produce(members: Members, ledger: Ledger, round_: int) -> None:
    client = members.any(USA)
    for k in range(PER_ROUND):
        key = f"r{round_}-{k}"
        signed = client.sign(
            "submit_message", message_body("statement", {"text": key}), track=TRACK, idempotency_key=key
        )
        members.send(USA, signed)
        with ledger.lock:
            ledger.acked[key] = signed.digest.hex()  # a message's id is its command's digest
        time.sleep(0.02)


def relay(members: Members, ledger: Ledger) -> None:
    forwards: dict[str, SignedCommand] = {}
    while not ledger.stop.is_set():
        deliveries = members.retrying(QATAR, lambda c: c.inbox.poll(TRACK, timeout=0.5))
        for delivery in deliveries:
            message_id = delivery["message_id"]
            if message_id not in forwards:  # seen again (a lease ran out): the same signed forward again
                forwards[message_id] = members.any(QATAR).sign(
                    "forward_message", {"message_id": message_id, "to_parties": ["iran"]},
                    track=TRACK, idempotency_key=f"fwd-{message_id}",
                )  # fmt: skip
            members.send(QATAR, forwards[message_id])
            with ledger.lock:
                ledger.forwarded.add(message_id)


def consume(members: Members, ledger: Ledger) -> None:
    while not ledger.stop.is_set():
        client = members.any(IRAN)
        got: list[dict[str, Any]] = []
        with contextlib.suppress(httpx.TransportError, httpx.RemoteProtocolError):
            for delivery in client.inbox.stream(TRACK, last_event_id=ledger.last_event_id, timeout=1.0):
                got.append(delivery)
                ledger.last_event_id = max(ledger.last_event_id or 0, int(delivery["log_index"]))
                if len(got) >= 8:
                    break
        with ledger.lock:
            for delivery in got:
                if delivery["message_id"] in ledger.settled:
                    ledger.redelivered.append(delivery["message_id"])
                ledger.delivered[delivery["message_id"]] = int(delivery["log_index"])
        fresh = [d for d in got if d["message_id"] not in ledger.settled]
        if fresh:
            signed = members.any(IRAN).sign(
                "record_receipt", receipt_body(fresh), track=TRACK,
                idempotency_key=f"rcpt-{min(int(d['log_index']) for d in fresh)}",
            )  # fmt: skip
            members.send(IRAN, signed)
            with ledger.lock:
                ledger.settled.update(d["message_id"] for d in fresh)


def receipt_body(deliveries: list[dict[str, Any]]) -> dict[str, JSONValue]:
    from backchannel.sdk.inbox import receipt_digest, receipt_items

    items = receipt_items(deliveries)
    return {"items": [item.to_json() for item in items], "receipt_digest": receipt_digest(items).hex()}


@contextlib.contextmanager
def actors(members: Members, ledger: Ledger) -> Iterator[None]:
    threads = [
        threading.Thread(target=guarded(ledger, lambda: relay(members, ledger)), name="qatar", daemon=True),
        threading.Thread(target=guarded(ledger, lambda: consume(members, ledger)), name="iran", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        ledger.stop.set()
        for thread in threads:
            thread.join(timeout=WAIT)


def wait_drained(ledger: Ledger) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and not ledger.errors:
        with ledger.lock:
            if set(ledger.acked.values()) <= ledger.settled:
                return
        time.sleep(0.05)


def check_log(store: EventStore, ledger: Ledger) -> None:
    verify_store(store, TRACK)
    counts: Counter[str] = Counter()
    for entry in store.read(TRACK):
        body = entry.decode().signed.event.body
        event = body.get("event") if isinstance(body, dict) else None
        if isinstance(event, dict) and event.get("type") == "message.submitted":
            counts[str(event["command_digest"])] += 1
    replay(store, TRACK)
    with ledger.lock:
        acked = dict(ledger.acked)
    missing = [key for key, message_id in acked.items() if counts[message_id] != 1]
    assert not missing, f"acknowledged submissions not logged exactly once: {missing}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The nodes' shared store: the data directory's SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


def open_store(data: Path, url: str | None) -> EventStore:
    """The cluster's store, opened beside the running nodes."""
    if url is None:
        return SQLiteEventStore(data / "backchannel.sqlite3")
    from backchannel.store.postgres import PostgresEventStore

    return PostgresEventStore(url)


def test_a_node_killed_at_random_under_load_loses_nothing(tmp_path: Path, store_url: str | None) -> None:
    data = tmp_path / "data"
    rng = random.Random(1)
    with Cluster(
        data, NODES, admit=[QATAR.signing.key_id], store=store_url, env={"PYTHONPATH": str(SRC)}
    ) as cluster:
        info = httpx.get(cluster.url(0) + "/v1/service").json()
        members = Members(cluster, info["log_key"])
        try:
            open_track(members, {**info["service_key"], "expires_at": None})
            ledger = Ledger()
            with actors(members, ledger):
                for round_ in range(ROUNDS):
                    producer = threading.Thread(
                        target=guarded(ledger, lambda r=round_: produce(members, ledger, r)), daemon=True
                    )
                    producer.start()
                    time.sleep(rng.uniform(0.1, 0.4))  # in the middle of the load
                    victim = rng.randrange(NODES)
                    cluster.kill(victim)
                    time.sleep(0.2)
                    cluster.start(victim)
                    producer.join(timeout=WAIT)
                    wait_drained(ledger)
                    assert not ledger.errors, (ledger.errors, *(cluster.output(i) for i in range(NODES)))
                    with ledger.lock:
                        acked = set(ledger.acked.values())
                        assert len(acked) == (round_ + 1) * PER_ROUND
                        assert acked <= set(ledger.delivered), "iran's resumed stream missed deliveries"
                        assert acked <= ledger.settled
                        assert not ledger.redelivered, (
                            f"settled messages delivered again: {ledger.redelivered}"
                        )
                    with open_store(data, store_url) as store:
                        check_log(store, ledger)
        finally:
            members.close()
