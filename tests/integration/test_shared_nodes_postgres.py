"""Two nodes serving one PostgreSQL schema, each a real HTTP server on 127.0.0.1 (issue #14, ADR-0059/0060).

What is particular to PostgreSQL (the leases, settlements, wake-ups, replays and heartbeats
between two nodes run on both stores in ``test_shared_nodes.py``): both nodes read the same node
key from one data directory and keep the log, and the delivery state, in one
schema (:class:`~backchannel.store.postgres_delivery_state.PostgresDeliveryState`);
a commit on one wakes the other through ``LISTEN``/``NOTIFY``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backchannel.node import Node
from backchannel.service.config import Settings
from backchannel.service.pg_notifier import PostgresNotifier
from backchannel.store.postgres_delivery_state import PostgresDeliveryState
from backchannel.testing.shared_nodes import (
    IRAN,
    ONE_ATTEMPT,
    TRACK,
    Served,
    dead_letter_and_escalation_logged_once,
    long_poll_wake,
    open_track,
    send,
    serve,
    two_serve_processes,
)


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


def test_a_dead_letter_and_an_escalation_are_logged_once_while_both_nodes_tick(settings: Settings) -> None:
    with serve(settings, ONE_ATTEMPT) as one:
        open_track(one)
        with serve(settings, ONE_ATTEMPT) as two:
            dead_letter_and_escalation_logged_once(one, two)
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
    with two_serve_processes(tmp_path / "shared", postgres_url) as (one, two):
        sent = send(one, "hello")
        assert [d["message_id"] for d in one.lease(IRAN)] == [sent]
        assert two.lease(IRAN) == []  # leased through the other process
        assert long_poll_wake(one, two) < 0.5  # NOTIFY, not the one-second re-check
