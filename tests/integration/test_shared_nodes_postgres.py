"""Two nodes serving one PostgreSQL schema, each a real HTTP server on 127.0.0.1 (issue #14, ADR-0059/0060).

The PostgreSQL twin of ``test_shared_nodes.py``: both nodes read the same node
key from one data directory and keep the log, and the delivery state, in one
schema (:class:`~backchannel.store.postgres_delivery_state.PostgresDeliveryState`);
a commit on one wakes the other through ``LISTEN``/``NOTIFY``.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

import backchannel
from backchannel.broker import DeliveryPolicy, Priority
from backchannel.log.records import parse_timestamp
from backchannel.node import Node
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.keyfile import read_key_file
from backchannel.service.config import Settings
from backchannel.service.pg_notifier import PostgresNotifier
from backchannel.store.postgres_delivery_state import PostgresDeliveryState
from backchannel.testing.server import free_port, serve_process
from backchannel.testing.shared_nodes import (
    IRAN,
    ORIGIN,
    POLICY,
    QATAR,
    TRACK,
    USA,
    NodeKeys,
    Served,
    eventually,
    log_types,
    open_track,
    send,
    serve,
)
from backchannel.testing.world import message_body


@pytest.fixture
def settings(tmp_path: Path, postgres_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "shared", store_url=postgres_url)


@pytest.fixture
def nodes(settings: Settings) -> Iterator[tuple[Served, Served]]:
    with serve(settings) as one:
        open_track(one)
        with serve(settings) as two:
            yield one, two


def test_postgres_nodes_share_the_schemas_state_and_listen_for_changes(nodes: tuple[Served, Served]) -> None:
    channels = set()
    for served in nodes:
        node = served.node
        assert isinstance(node, Node)
        assert isinstance(node.shared, PostgresDeliveryState)
        notifier = node.app.state.ctx.notifier
        assert isinstance(notifier, PostgresNotifier)
        assert notifier.listening.is_set()
        channels.add(notifier.channel)
    assert len(channels) == 1


def test_a_lease_through_one_node_is_not_handed_out_by_the_other_before_it_expires(
    nodes: tuple[Served, Served],
) -> None:
    one, two = nodes
    sent = send(one, "hello")
    (first,) = one.lease(IRAN)
    assert (first["message_id"], first["attempt"]) == (sent, 1)
    assert two.lease(IRAN) == []  # leased through node 1, unexpired
    expires = parse_timestamp(first["visible_until"])
    assert datetime.now(UTC) < expires  # still leased when node 2 refused it
    again = eventually(lambda: two.lease(IRAN), 5, "node 2 redelivers the expired lease")
    assert [(d["message_id"], d["attempt"]) for d in again] == [(sent, 2)]
    assert datetime.now(UTC) >= expires
    assert one.lease(IRAN) == []  # node 2's lease now holds it


def test_a_settled_message_is_never_redelivered_by_either_node(nodes: tuple[Served, Served]) -> None:
    one, two = nodes
    send(one, "hello")
    (delivery,) = one.lease(IRAN)
    with two.client(IRAN) as client:
        assert client.inbox.settle(TRACK, [delivery])["replayed"] is False  # settled through node 2
    time.sleep(POLICY.visibility_timeout.total_seconds() + 0.5)  # past the lease's end
    assert one.lease(IRAN) == []
    assert two.lease(IRAN) == []
    assert log_types(one).count("receipt.recorded") == 1


def test_a_commit_on_one_node_wakes_a_long_poll_on_the_other_well_within_half_a_second(
    nodes: tuple[Served, Served],
) -> None:
    one, two = nodes
    latencies = []
    for n in range(3):
        answers: list[tuple[float, list[dict[str, Any]]]] = []

        def poll(answers: list[tuple[float, list[dict[str, Any]]]] = answers) -> None:
            with two.client(IRAN) as client:
                found = client.inbox.poll(TRACK, timeout=10)
            answers.append((time.monotonic(), found))

        waiter = threading.Thread(target=poll)
        waiter.start()
        time.sleep(0.3)  # the long poll is waiting on node 2
        sent = send(one, f"hello {n}")
        committed = time.monotonic()
        waiter.join(timeout=15)
        ((answered, found),) = answers
        assert [d["message_id"] for d in found] == [sent]
        latencies.append(answered - committed)
        with two.client(IRAN) as client:
            client.inbox.settle(TRACK, found)
    # node 2 re-checks on its own only once a second; NOTIFY wakes it at once
    assert max(latencies) < 0.5, latencies


def test_a_signed_request_replayed_to_the_other_node_is_refused(nodes: tuple[Served, Served]) -> None:
    one, two = nodes
    path = f"/v1/tracks/{TRACK}/checkpoint"
    nonce = secrets.token_hex(12)
    headers = sign_request(
        "GET", ORIGIN + path, {}, b"", key=QATAR.signing, created=datetime.now(UTC), nonce=nonce
    )
    assert httpx.get(one.url + path, headers=headers, timeout=10).status_code == 200
    replayed = httpx.get(two.url + path, headers=headers, timeout=10)
    assert replayed.status_code == 401, replayed.text
    assert "another node" in replayed.json()["detail"]


def test_a_dead_letter_and_an_escalation_are_logged_once_while_both_nodes_tick(settings: Settings) -> None:
    policy = DeliveryPolicy(
        credit=4,
        visibility_timeout=timedelta(seconds=1),
        max_attempts=1,
        ack_deadline={
            Priority.FLASH: timedelta(seconds=1),
            Priority.PRIORITY: timedelta(hours=1),
            Priority.ROUTINE: timedelta(hours=1),
        },
    )
    with serve(settings, policy) as one:
        open_track(one)
        with serve(settings, policy) as two:
            send(one, "urgent", priority="flash")
            assert len(one.lease(IRAN)) == 1  # its only attempt
            both = ("message.dead_lettered", "message.escalated")
            eventually(
                lambda: all(t in log_types(two) for t in both), 8, "the dead letter and the escalation"
            )
            time.sleep(1.5)  # both tickers keep running
            types = log_types(one)
            assert (types.count("message.dead_lettered"), types.count("message.escalated")) == (1, 1)
            assert settings.store_url is not None
            with psycopg.connect(settings.store_url) as conn:
                row = conn.execute("SELECT holder FROM work_leases WHERE scope = %s", (TRACK,)).fetchone()
            holders = {n.node.work.holder for n in (one, two) if isinstance(n.node, Node) and n.node.work}
            assert row is not None
            assert row[0] in holders  # one node holds the track's work


# --- two `backchannel serve --store postgresql://...` processes ------------------------------------


def test_two_serve_processes_on_one_schema_share_leases_and_wake_each_other(
    tmp_path: Path, postgres_url: str
) -> None:
    data = tmp_path / "shared"
    env = {**os.environ, "PYTHONPATH": str(Path(backchannel.__file__).parents[1])}
    env.pop("BACKCHANNEL_MASTER_KEY", None)
    urls = [f"http://127.0.0.1:{free_port()}" for _ in range(2)]

    def argv(url: str) -> list[str]:
        port = url.rsplit(":", 1)[1]
        return [
            sys.executable, "-m", "backchannel", "serve", "--data-dir", str(data), "--store", postgres_url,
            "--port", port, "--public-origin", ORIGIN, "--admit-key", QATAR.signing.key_id,
        ]  # fmt: skip

    with serve_process(argv(urls[0]), urls[0], env=env):
        keys = NodeKeys(read_key_file(data / "node.key"))
        one = Served(keys, urls[0])
        open_track(one)
        with serve_process(argv(urls[1]), urls[1], env=env):
            two = Served(keys, urls[1])
            sent = send(one, "hello")
            assert [d["message_id"] for d in one.lease(IRAN)] == [sent]
            assert two.lease(IRAN) == []  # leased through the other process
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
            assert answers[0] - committed < 0.5  # NOTIFY, not the one-second re-check
