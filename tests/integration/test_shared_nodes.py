"""Two nodes serving one SQLite data directory, each a real HTTP server on 127.0.0.1 (issue #14, ADR-0059).

Both nodes sign with the same node key (read from the data directory) and are
reached through one public origin (as behind a load balancer): a client's
request verifies on either. What they share lives in the database: leases and
attempts, heartbeats, replay nonces and the per-track work leases.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.broker import DeliveryPolicy
from backchannel.log.records import parse_timestamp
from backchannel.protocol.httpsig import sign_request
from backchannel.service.config import Settings
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.shared_nodes import (
    IRAN,
    ONE_ATTEMPT,
    ORIGIN,
    POLICY,
    QATAR,
    TRACK,
    USA,
    Served,
    dead_letter_and_escalation_logged_once,
    eventually,
    log_types,
    long_poll_wake,
    open_track,
    send,
    serve,
    two_serve_processes,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Both nodes' data directory, on its SQLite file or on a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return Settings.embedded(tmp_path / "shared")
    url: str = request.getfixturevalue("postgres_url")
    return Settings(data_dir=tmp_path / "shared", store_url=url)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """The tests below read SQLite's tables themselves (their PostgreSQL twins: test_shared_nodes_postgres.py)."""
    return Settings.embedded(tmp_path / "shared")


@pytest.fixture
def nodes(settings: Settings) -> Iterator[tuple[Served, Served]]:
    with serve(settings) as one:
        open_track(one)
        with serve(settings) as two:
            yield one, two


def test_a_lease_through_one_node_is_not_handed_out_by_the_other_before_it_expires(
    nodes: tuple[Served, Served],
) -> None:
    one, two = nodes
    sent = send(one, "hello")
    (first,) = one.lease(IRAN)
    assert (first["message_id"], first["attempt"]) == (sent, 1)
    assert two.lease(IRAN) == []  # leased through node 1, unexpired
    assert one.lease(IRAN) == []
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


def test_a_commit_on_one_node_wakes_a_long_poll_on_the_other_well_within_a_second(
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
            client.inbox.settle(TRACK, found)  # or it comes back to the next round's poll after a second
    # node 2 re-checks on its own only once a second; the change poller (20 ms here) wakes it at once
    assert max(latencies) < 0.5, latencies


def test_a_signed_request_replayed_to_the_other_node_is_refused(nodes: tuple[Served, Served]) -> None:
    one, two = nodes
    path = f"/v1/tracks/{TRACK}/checkpoint"
    headers = sign_request(
        "GET",
        ORIGIN + path,
        {},
        b"",
        key=QATAR.signing,
        created=datetime.now(UTC),
        nonce=secrets.token_hex(12),
    )
    assert httpx.get(one.url + path, headers=headers, timeout=10).status_code == 200
    replayed = httpx.get(two.url + path, headers=headers, timeout=10)
    assert replayed.status_code == 401, replayed.text
    assert "another node" in replayed.json()["detail"]
    assert httpx.get(one.url + path, headers=headers, timeout=10).status_code == 401  # and on the first


def test_heartbeats_through_one_node_show_on_the_other(nodes: tuple[Served, Served]) -> None:
    one, two = nodes
    with one.client(USA) as client:
        client.inbox.heartbeat(TRACK)
    with two.client(QATAR) as client:
        parties = {p["party"]: p["status"] for p in client.inbox.presence(TRACK)}
    assert parties["usa"] == "online"
    assert parties["iran"] == "never_seen"


def work_lease(settings: Settings) -> tuple[str, datetime] | None:
    with contextlib.closing(sqlite3.connect(settings.database)) as conn:
        row = conn.execute("SELECT holder, expires FROM work_leases WHERE scope = ?", (TRACK,)).fetchone()
    if row is None:
        return None
    return str(row[0]), datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(row[1]))


def test_a_dead_letter_and_an_escalation_are_logged_once_while_both_nodes_tick(
    sqlite_settings: Settings,
) -> None:
    with serve(sqlite_settings, ONE_ATTEMPT) as one:
        open_track(one)
        with serve(sqlite_settings, ONE_ATTEMPT) as two:
            dead_letter_and_escalation_logged_once(one, two)
            held = work_lease(sqlite_settings)
            assert held is not None
            holders = {n.node.work.holder for n in (one, two) if n.node.work is not None}
            assert held[0] in holders  # one node holds the track's work


def test_the_other_node_takes_the_work_over_when_the_holder_dies(sqlite_settings: Settings) -> None:
    policy = DeliveryPolicy(
        ack_deadline={
            "flash": timedelta(seconds=1),
            "priority": timedelta(hours=1),
            "routine": timedelta(hours=1),
        },
    )
    with serve(sqlite_settings, policy) as one:
        open_track(one)
        assert one.node.work is not None
        eventually(
            lambda: (work_lease(sqlite_settings) or ("", None))[0] == one.node.work.holder, 5, "node 1 holds"
        )
        send(one, "urgent", priority="flash")  # its escalation is due in a second
        one.node.shared.close()  # node 1 dies holding the lease: it cannot give it up on the way out
    held = work_lease(sqlite_settings)
    assert held is not None
    assert "message.escalated" not in log_types_of(sqlite_settings)
    with serve(sqlite_settings, policy) as two:
        eventually(lambda: "message.escalated" in log_types(two), 8, "node 2 escalates")
        escalated = next(
            e.decode()
            for e in two.node.log.store.read(TRACK)
            if e.decode().signed.event.type == "message.escalated"
        )
        assert (
            parse_timestamp(escalated.signed.event.created_at) >= held[1]
        )  # not before node 1's lease ran out
        assert log_types(two).count("message.escalated") == 1


def log_types_of(settings: Settings) -> list[str]:
    """The log's event types, read from the file (no node serving it)."""
    with SQLiteEventStore(settings.database) as store:
        return [e.decode().signed.event.type for e in store.read(TRACK)]


# --- two `backchannel serve` processes ------------------------------------------------------------


def test_two_serve_processes_on_one_data_directory_share_leases_replays_and_wake_ups(tmp_path: Path) -> None:
    with two_serve_processes(tmp_path / "shared") as (one, two):
        sent = send(one, "hello")
        assert [d["message_id"] for d in one.lease(IRAN)] == [sent]
        assert two.lease(IRAN) == []  # leased through the other process
        path = f"/v1/tracks/{TRACK}/checkpoint"
        created = datetime.now(UTC)
        headers = sign_request("GET", ORIGIN + path, {}, b"", key=QATAR.signing, created=created, nonce="n-1")
        assert httpx.get(one.url + path, headers=headers, timeout=10).status_code == 200
        assert httpx.get(two.url + path, headers=headers, timeout=10).status_code == 401
        assert long_poll_wake(one, two) < 0.8  # the default 50 ms poller, two processes on two cores
