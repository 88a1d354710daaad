"""Nodes sharing one database, each a real HTTP server on 127.0.0.1, for tests (issue #14, ADR-0059).

Both nodes of a test sign with the same node key (read from one data
directory) and are reached through one public origin (as behind a load
balancer): a client's request verifies on either. :func:`serve` runs one node of
:class:`~backchannel.service.config.Settings` (SQLite in the data directory, or
its ``store_url``), :class:`Served` talks to it as a party would, and
:func:`open_track`, :func:`send`, :func:`log_types` and :func:`eventually`
are the steps the shared-node tests take on either store.
:func:`two_serve_processes` runs two ``backchannel serve`` processes instead, and
:func:`long_poll_wake` times a wake-up from one to the other.

This module needs pytest's world (``backchannel.testing.world``) and httpx.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
from fastapi import FastAPI

from backchannel.broker import Backoff, DeliveryPolicy, Priority
from backchannel.node import Node, open_node
from backchannel.protocol.keyfile import KeyPair, read_key_file
from backchannel.sdk import BackchannelClient
from backchannel.service.admission import Admission
from backchannel.service.config import Settings
from backchannel.testing.server import free_port, running, serve_process
from backchannel.testing.world import message_body, opening
from backchannel.testing.world import seeded_keys as pair

__all__ = [
    "IRAN",
    "ORIGIN",
    "POLICY",
    "QATAR",
    "TRACK",
    "TTL",
    "USA",
    "NodeKeys",
    "Redirect",
    "Served",
    "eventually",
    "log_types",
    "long_poll_wake",
    "open_track",
    "send",
    "serve",
    "two_serve_processes",
]

TRACK = "doha"
ORIGIN = "http://backchannel.test"  # one public origin for both nodes
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")
POLICY = DeliveryPolicy(
    credit=4,
    queue_limit=16,
    visibility_timeout=timedelta(seconds=1),
    max_attempts=3,
    backoff=Backoff(base=timedelta(0), max=timedelta(0)),
    ack_deadline={
        Priority.FLASH: timedelta(hours=1),
        Priority.PRIORITY: timedelta(hours=1),
        Priority.ROUTINE: timedelta(hours=24),
    },
)
T = TypeVar("T")

ONE_ATTEMPT = DeliveryPolicy(
    credit=4,
    visibility_timeout=timedelta(seconds=1),
    max_attempts=1,
    ack_deadline={
        Priority.FLASH: timedelta(seconds=1),
        Priority.PRIORITY: timedelta(hours=1),
        Priority.ROUTINE: timedelta(hours=1),
    },
)
"""One attempt, a flash message escalated after a second: :func:`dead_letter_and_escalation_logged_once`."""

TTL = timedelta(seconds=2)
"""The work leases' ttl in these tests."""


class Redirect(httpx.HTTPTransport):
    """Send every request to ``url`` (it was signed for the public origin)."""

    def __init__(self, url: str) -> None:
        """Send to ``url`` (scheme, host and port; the path is the request's)."""
        super().__init__()
        self._url = httpx.URL(url)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` to the redirected address."""
        request.url = request.url.copy_with(scheme=self._url.scheme, host=self._url.host, port=self._url.port)
        return super().handle_request(request)


class NodeKeys:
    """What :class:`Served` reads of a node it does not hold in-process: its keys."""

    def __init__(self, keys: KeyPair) -> None:
        """Hold ``keys``."""
        self.keys = keys


class Served:
    """One node, served on 127.0.0.1 at ``url``."""

    def __init__(self, node: Node | NodeKeys, url: str) -> None:
        """Talk to ``node`` at ``url``."""
        self.node = node
        self.url = url

    def client(self, who: KeyPair) -> BackchannelClient:
        """A client of ``who`` signing for :data:`ORIGIN`, sending to this node."""
        return BackchannelClient(ORIGIN, who.name, who, transport=Redirect(self.url), sleep=lambda _: None)

    def run(self, who: KeyPair, command: str, body: dict[str, Any]) -> dict[str, Any]:
        """Execute one command on :data:`TRACK` as ``who``."""
        with self.client(who) as client:
            return client.execute(command, body, track=TRACK)

    def lease(self, who: KeyPair) -> list[dict[str, Any]]:
        """Lease ``who``'s deliveries on :data:`TRACK`."""
        with self.client(who) as client:
            return client.inbox.lease(TRACK)


@contextlib.contextmanager
def serve(settings: Settings, policy: DeliveryPolicy = POLICY) -> Iterator[Served]:
    """Serve one node of ``settings`` (with its lifespan: ticker and notifier) until the block ends."""
    nodes: list[Node] = []

    def make(_url: str) -> FastAPI:
        admission = Admission([QATAR.signing.key_id])
        node = open_node(
            settings, host="127.0.0.1", port=0, public_origin=ORIGIN, policy=policy, admission=admission,
            work_ttl=TTL, poll_interval=0.02,
        )  # fmt: skip
        nodes.append(node)
        return node.app

    try:
        with running(make, lifespan=True) as url:
            yield Served(nodes[0], url)
    finally:
        for node in nodes:
            node.close()


def open_track(node: Served) -> None:
    """Qatar opens :data:`TRACK` with USA and Iran through ``node``."""
    with node.client(QATAR) as client:
        service_key = client.service_info()["service_key"]
    for who, command, body in opening(QATAR, node.node.keys, (USA, IRAN), agenda=None):
        sent = (
            {**body, "service_key": {**service_key, "expires_at": None}} if command == "open_track" else body
        )
        node.run(who, command, sent)


def send(node: Served, text: str, to: str = "iran", priority: str = "routine") -> str:
    """USA submits, the mediator forwards to ``to``: the message id."""
    (event,) = node.run(USA, "submit_message", message_body("statement", {"text": text}, priority=priority))[
        "events"
    ]
    message_id = str(event["command_digest"])
    node.run(QATAR, "forward_message", {"message_id": message_id, "to_parties": [to]})
    return message_id


def log_types(node: Served) -> list[str]:
    """The event types of :data:`TRACK`'s log, read through ``node``'s store."""
    assert isinstance(node.node, Node)
    return [e.decode().signed.event.type for e in node.node.log.store.read(TRACK)]


def eventually(check: Callable[[], T], seconds: float, what: str) -> T:
    """Call ``check`` every 50 ms until it answers truthy (returned) or ``seconds`` pass (assertion error)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, f"{what}: not within {seconds} s"
            return found
        time.sleep(0.05)


@contextlib.contextmanager
def two_serve_processes(data: Path, store: str | None = None) -> Iterator[tuple[Served, Served]]:
    """Two ``backchannel serve`` processes on ``data`` (and ``store``), the track opened through the first."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    env.pop("BACKCHANNEL_MASTER_KEY", None)
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]

    def argv(url: str) -> list[str]:
        port = url.rsplit(":", 1)[1]
        return [
            sys.executable, "-m", "backchannel", "serve", "--data-dir", str(data),
            *(["--store", store] if store else []),
            "--port", port, "--public-origin", ORIGIN, "--admit-key", QATAR.signing.key_id,
        ]  # fmt: skip

    with serve_process(argv(urls[0]), urls[0], env=env):
        keys = NodeKeys(read_key_file(data / "node.key"))
        one = Served(keys, urls[0])
        open_track(one)
        with serve_process(argv(urls[1]), urls[1], env=env):
            yield one, Served(keys, urls[1])


def long_poll_wake(one: Served, two: Served) -> float:
    """Seconds from a delivery committed through ``one`` to the return of usa's long poll on ``two``."""
    answers: list[float] = []

    def poll() -> None:
        with two.client(USA) as client:  # usa waits for a message from iran, through node 2
            client.inbox.poll(TRACK, timeout=10)
        answers.append(time.monotonic())

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    (event,) = one.run(IRAN, "submit_message", message_body("statement", {"text": "hi"}))["events"]
    one.run(QATAR, "forward_message", {"message_id": event["command_digest"], "to_parties": ["usa"]})
    committed = time.monotonic()
    waiter.join(timeout=15)
    assert answers, "the long poll on node 2 did not return"
    return answers[0] - committed


def dead_letter_and_escalation_logged_once(one: Served, two: Served) -> None:
    """A flash message's only attempt expires on nodes of :data:`ONE_ATTEMPT`: both tick, one logs each."""
    send(one, "urgent", priority="flash")
    assert len(one.lease(IRAN)) == 1  # its only attempt
    both = ("message.dead_lettered", "message.escalated")
    eventually(lambda: all(t in log_types(two) for t in both), 8, "the dead letter and the escalation")
    time.sleep(1.5)  # both tickers keep running
    types = log_types(one)
    assert (types.count("message.dead_lettered"), types.count("message.escalated")) == (1, 1)
