"""LISTEN/NOTIFY wake-ups between nodes of one PostgreSQL schema (ADR-0060), on the real server."""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Iterable, Iterator

import psycopg
import pytest

from backchannel.errors import ConfigurationError
from backchannel.service.pg_notifier import PostgresNotifier
from backchannel.store.postgres import PostgresEventStore
from backchannel.store.postgres_delivery_state import PostgresDeliveryState
from backchannel.testing.postgres import fresh_schema, server_url

Heard = queue.Queue[tuple[float, frozenset[str]]]


@contextlib.contextmanager
def listening(url: str, **timings: float) -> Iterator[tuple[PostgresNotifier, Heard, PostgresDeliveryState]]:
    """A started notifier on ``url``'s schema, what it heard (when, which tracks), and the schema's state."""
    state = PostgresDeliveryState(url)
    notifier = PostgresNotifier(url, state.channel, send=state.notify, tracks=state.versions, **timings)
    heard: Heard = queue.Queue()
    notifier.subscribe(lambda tracks: heard.put((time.monotonic(), tracks)))
    notifier.start()
    try:
        assert notifier.listening.is_set()
        yield notifier, heard, state
    finally:
        notifier.stop()
        state.close()


def notify(url: str, channel: str, *tracks: str) -> float:
    """Send NOTIFYs from a connection of its own; returns when the commit returned."""
    with psycopg.connect(url, autocommit=True) as conn:
        for track in tracks:
            conn.execute("SELECT pg_notify(%s, %s)", (channel, track))
        return time.monotonic()


def test_a_notify_from_another_connection_wakes_the_listener_within_a_bound(postgres_url: str) -> None:
    with listening(postgres_url) as (notifier, heard, _):
        for n in range(3):
            sent = notify(postgres_url, notifier.channel, f"t{n}", f"u{n}")
            tracks: set[str] = set()
            while tracks != {f"t{n}", f"u{n}"}:
                at, named = heard.get(timeout=2)
                tracks |= named
            assert at - sent < 0.2  # well under the notifier's 0.25 s tick: woken, not polled
        assert notifier.connects == 1


def test_another_schemas_notifications_are_not_delivered(postgres_url: str) -> None:
    with fresh_schema() as other, listening(postgres_url) as (notifier, heard, _):
        other_state = PostgresDeliveryState(other)
        try:
            assert other_state.channel != notifier.channel
            other_state.notify(["elsewhere"])
            other_state.notify([])
        finally:
            other_state.close()
        notify(postgres_url, notifier.channel, "here")  # sent after: heard once the other would have been
        assert heard.get(timeout=2)[1] == frozenset({"here"})
        time.sleep(0.1)
        assert heard.empty()


def test_a_killed_listening_connection_reconnects_and_reports_every_track(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with PostgresEventStore(postgres_url) as store:
        for track in ("a", "b", "c"):
            store.create_track(track, "o", "k")
        with listening(postgres_url, retry=0.05, max_retry=0.2) as (notifier, heard, _):
            killed = notifier.backend_pid
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                assert conn.execute("SELECT pg_terminate_backend(%s)", (killed,)).fetchone() == (True,)
            assert heard.get(timeout=5)[1] == frozenset({"a", "b", "c"})  # nothing missed while it was down
            deadline = time.monotonic() + 5
            while not notifier.listening.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert notifier.connects == 2
            assert notifier.backend_pid != killed
            notify(postgres_url, notifier.channel, "b")
            assert heard.get(timeout=2)[1] == frozenset({"b"})  # and it listens again
    assert "reconnecting" in caplog.text


def test_an_announcement_tells_this_node_at_once_and_the_others_through_notify(postgres_url: str) -> None:
    with listening(postgres_url) as (one, heard_one, _), listening(postgres_url) as (two, heard_two, _):
        one.announce(["t"])
        one.announce([])
        assert heard_one.get_nowait()[1] == frozenset({"t"})  # synchronously, before any round trip
        assert heard_two.get(timeout=2)[1] == frozenset({"t"})
        assert heard_one.get(timeout=2)[1] == frozenset({"t"})  # its own echo: a second, harmless wake-up
        assert two.channel == one.channel


def test_a_lease_claim_notifies_the_other_nodes_when_it_commits(postgres_url: str) -> None:
    from backchannel.store.delivery_state import Claim
    from backchannel.testing.delivery_contracts import T0

    with listening(postgres_url) as (_, heard, state):
        assert state.claim("t", "iran", [Claim("m", 0, T0)], now=T0) == ["m"]
        assert heard.get(timeout=2)[1] == frozenset({"t"})
        assert state.claim("t", "iran", [Claim("m", 0, T0)], now=T0) == []  # refused: no notification
        time.sleep(0.1)
        assert heard.empty()


def test_a_failed_notify_is_logged_and_this_node_still_hears(caplog: pytest.LogCaptureFixture) -> None:
    def send(_: Iterable[str]) -> None:
        raise OSError("the server went away")

    heard: list[frozenset[str]] = []
    notifier = PostgresNotifier(server_url(), "backchannel:x", send=send, tracks=list)
    notifier.subscribe(heard.append)
    notifier.announce(["t"])
    assert heard == [frozenset({"t"})]
    assert "sending NOTIFY" in caplog.text
    notifier.stop()  # never started: nothing to stop


def test_an_unreachable_server_does_not_block_the_start_and_stops_cleanly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    notifier = PostgresNotifier(
        "postgresql://postgres@127.0.0.1:1/none", "backchannel:x", send=list, tracks=list,
        retry=0.05, max_retry=0.1, connect_timeout=1,
    )  # fmt: skip
    started = time.monotonic()
    notifier.start(wait=0.3)
    notifier.start()  # already started: a no-op
    assert time.monotonic() - started < 1.5
    assert not notifier.listening.is_set()
    time.sleep(0.3)  # a few retries
    notifier.stop()
    notifier.stop()
    assert notifier.connects == 0
    assert "not yet listening" in caplog.text
    assert caplog.text.count("reconnecting") == 1  # logged once per outage


def test_stop_closes_the_listening_connection(postgres_url: str) -> None:
    with listening(postgres_url) as (notifier, _, _):
        pid = notifier.backend_pid
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for _ in range(50):
            row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
            if row == (0,):
                break
            time.sleep(0.02)
    assert row == (0,)
    assert not notifier.listening.is_set()


@pytest.mark.parametrize(
    ("timings", "named"),
    [({"tick": 0}, "tick=0"), ({"retry": -1}, "retry=-1"), ({"retry": 3, "max_retry": 2}, "max_retry=2")],
)
def test_bad_timings_are_refused(timings: dict[str, float], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        PostgresNotifier(server_url(), "c", send=list, tracks=list, **timings)
