"""The contract every :class:`~backchannel.store.delivery_state.DeliveryState` adapter must pass (ADR-0059).

:class:`DeliveryStateContract` holds the shared delivery state's behaviour as
pytest tests. An adapter's test module subclasses it and supplies two fixtures:
``open_state`` (each call opens one more node's handle on the *same* database;
the suite closes them) and ``create_track`` (makes a track exist with a given
log size, so that :meth:`~backchannel.store.delivery_state.DeliveryState.versions`
lists it)::

    class TestSQLiteDeliveryState(DeliveryStateContract):
        @pytest.fixture
        def open_state(self, tmp_path: Path) -> StateFactory:
            return lambda: SQLiteDeliveryState(tmp_path / "store.db")

The PostgreSQL adapter runs the same suite. This module does not test what is
adapter-specific (durability settings, migrations). It needs pytest.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from backchannel.store.delivery_state import Claim, DeliveryState, Heartbeat, LeaseRecord

__all__ = ["DeliveryStateContract", "StateFactory", "TrackMaker"]

StateFactory = Callable[[], DeliveryState]
"""Opens one more handle (one more node) on the database under test."""
TrackMaker = Callable[[str, int], None]
"""Makes track ``name`` exist with a log of ``size`` entries."""

T0 = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
SECOND = timedelta(seconds=1)


class DeliveryStateContract:
    """Every behaviour of :class:`DeliveryState`, for one adapter (subclass and supply the fixtures)."""

    @pytest.fixture
    def nodes(self, open_state: StateFactory) -> Iterator[tuple[DeliveryState, DeliveryState]]:
        """Two handles on one database, as two nodes hold them."""
        one, two = open_state(), open_state()
        try:
            yield one, two
        finally:
            one.close()
            two.close()

    # -- leases ------------------------------------------------------------------------------------

    def test_a_claim_stores_the_next_attempt_and_its_expiry(self, nodes: tuple[DeliveryState, ...]) -> None:
        """A claim stores the next attempt and its expiry."""
        one, two = nodes
        assert one.leases("t", "iran") == []
        assert one.claim(
            "t", "iran", [Claim("m1", 0, T0 + SECOND), Claim("m2", 0, T0 + 2 * SECOND)], now=T0
        ) == [
            "m1",
            "m2",
        ]
        assert two.leases("t", "iran") == [
            LeaseRecord("m1", 1, T0 + SECOND),
            LeaseRecord("m2", 1, T0 + 2 * SECOND),
        ]
        assert two.leases("t", "usa") == []
        assert two.leases("u", "iran") == []

    def test_of_two_nodes_that_saw_the_same_attempts_only_the_first_claims(
        self, nodes: tuple[DeliveryState, ...]
    ) -> None:
        """Of two nodes that saw the same attempts only the first claims."""
        one, two = nodes
        assert one.claim("t", "iran", [Claim("m1", 0, T0 + SECOND)], now=T0) == ["m1"]
        assert two.claim("t", "iran", [Claim("m1", 0, T0 + 5 * SECOND), Claim("m2", 0, T0)], now=T0) == ["m2"]
        assert one.leases("t", "iran")[0] == LeaseRecord("m1", 1, T0 + SECOND)
        assert two.claim("t", "iran", [Claim("m1", 1, T0 + 3 * SECOND)], now=T0) == ["m1"]  # the next attempt
        assert one.leases("t", "iran")[0] == LeaseRecord("m1", 2, T0 + 3 * SECOND)

    def test_a_node_ahead_of_the_store_may_claim(self, nodes: tuple[DeliveryState, ...]) -> None:
        """A node ahead of the store may claim."""
        one, _ = nodes
        assert one.claim("t", "iran", [Claim("m1", 3, T0)], now=T0) == ["m1"]  # records lost: attempts go on
        assert one.leases("t", "iran") == [LeaseRecord("m1", 4, T0)]
        assert one.claim("t", "iran", [], now=T0) == []

    def test_forgotten_leases_are_gone_for_every_node(self, nodes: tuple[DeliveryState, ...]) -> None:
        """Forgotten leases are gone for every node."""
        one, two = nodes
        one.claim("t", "iran", [Claim("m1", 0, T0), Claim("m2", 0, T0)], now=T0)
        two.forget("t", "iran", ["m1", "unknown"])
        two.forget("t", "iran", [])
        assert [r.message_id for r in one.leases("t", "iran")] == ["m2"]
        assert one.claim("t", "iran", [Claim("m1", 0, T0)], now=T0) == ["m1"]  # from the start again

    def test_concurrent_claims_of_one_attempt_grant_it_once(self, nodes: tuple[DeliveryState, ...]) -> None:
        """Concurrent claims of one attempt grant it once."""
        granted: list[str] = []
        lock = threading.Lock()

        def claim(state: DeliveryState, n: int) -> None:
            won = state.claim("t", "iran", [Claim(f"m{i}", 0, T0 + n * SECOND) for i in range(20)], now=T0)
            with lock:
                granted.extend(won)

        threads = [threading.Thread(target=claim, args=(nodes[n % 2], n)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(granted) == sorted(f"m{i}" for i in range(20))  # each message won exactly once

    # -- heartbeats --------------------------------------------------------------------------------

    def test_the_latest_heartbeat_of_each_member_is_kept(self, nodes: tuple[DeliveryState, ...]) -> None:
        """The latest heartbeat of each member is kept."""
        one, two = nodes
        one.beat("t", [Heartbeat("usa/a", "usa", T0 + SECOND), Heartbeat("usa/b", "usa", T0)])
        two.beat("t", [Heartbeat("usa/a", "usa", T0)])  # older: ignored
        two.beat("t", [])
        assert one.heartbeats("t") == [Heartbeat("usa/a", "usa", T0 + SECOND), Heartbeat("usa/b", "usa", T0)]
        two.beat("t", [Heartbeat("usa/b", "usa", T0 + 2 * SECOND)])
        assert one.heartbeats("t")[1].at == T0 + 2 * SECOND
        assert one.heartbeats("other") == []

    # -- nonces ------------------------------------------------------------------------------------

    def test_a_nonce_is_accepted_once_until_it_expires(self, nodes: tuple[DeliveryState, ...]) -> None:
        """A nonce is accepted once until it expires."""
        one, two = nodes
        assert one.add_nonce("t", "k1", "n1", T0 + SECOND, T0) is True
        assert two.add_nonce("t", "k1", "n1", T0 + SECOND, T0) is False  # a replay, on the other node
        assert two.add_nonce("t", "k2", "n1", T0 + SECOND, T0) is True  # another key
        assert two.add_nonce("u", "k1", "n1", T0 + SECOND, T0) is True  # another track
        assert one.add_nonce("t", "k1", "n1", T0 + 3 * SECOND, T0 + 2 * SECOND) is True  # expired: new
        assert two.add_nonce("t", "k1", "n1", T0 + 3 * SECOND, T0 + 2 * SECOND) is False

    def test_many_nonces_stay_refused_while_they_are_unexpired(
        self, nodes: tuple[DeliveryState, ...]
    ) -> None:
        """Many nonces stay refused while they are unexpired."""
        one, two = nodes
        for n in range(600):  # past any pruning batch
            assert one.add_nonce(
                "t", "k", f"n{n}", T0 + timedelta(minutes=5), T0 + n * timedelta(milliseconds=1)
            )
        assert not two.add_nonce("t", "k", "n0", T0 + timedelta(minutes=5), T0 + SECOND)

    # -- work leases -------------------------------------------------------------------------------

    def test_a_work_lease_is_held_by_one_node_until_it_expires(
        self, nodes: tuple[DeliveryState, ...]
    ) -> None:
        """A work lease is held by one node until it expires."""
        one, two = nodes
        held = one.acquire_work("t", "node-1", T0, T0 + 10 * SECOND)
        assert (held.scope, held.holder, held.expires) == ("t", "node-1", T0 + 10 * SECOND)
        refused = two.acquire_work("t", "node-2", T0 + SECOND, T0 + 11 * SECOND)
        assert (refused.holder, refused.expires) == ("node-1", T0 + 10 * SECOND)
        renewed = one.acquire_work("t", "node-1", T0 + 5 * SECOND, T0 + 15 * SECOND)
        assert renewed.expires == T0 + 15 * SECOND
        assert two.acquire_work("u", "node-2", T0, T0 + SECOND).holder == "node-2"  # another scope
        taken = two.acquire_work("t", "node-2", T0 + 15 * SECOND, T0 + 25 * SECOND)  # expired: taken over
        assert (taken.holder, taken.expires) == ("node-2", T0 + 25 * SECOND)

    def test_a_released_work_lease_is_free_at_once(self, nodes: tuple[DeliveryState, ...]) -> None:
        """A released work lease is free at once."""
        one, two = nodes
        one.acquire_work("t", "node-1", T0, T0 + 10 * SECOND)
        two.release_work("t", "node-2")  # not its own: nothing
        assert two.acquire_work("t", "node-2", T0, T0 + 10 * SECOND).holder == "node-1"
        one.release_work("t", "node-1")
        assert two.acquire_work("t", "node-2", T0, T0 + 10 * SECOND).holder == "node-2"

    # -- versions ----------------------------------------------------------------------------------

    def test_a_track_version_grows_with_its_log_and_its_claims(
        self, nodes: tuple[DeliveryState, ...], create_track: TrackMaker
    ) -> None:
        """A track version grows with its log and its claims."""
        one, two = nodes
        create_track("t", 3)
        create_track("u", 0)
        before = two.versions()
        assert set(before) >= {"t", "u"}
        one.claim("t", "iran", [Claim("m1", 0, T0)], now=T0)
        after = two.versions()
        assert after["t"] > before["t"]
        assert after["u"] == before["u"]
        one.claim("t", "iran", [Claim("m1", 0, T0)], now=T0)  # refused: no change
        assert two.versions() == after
        one.heartbeats("t")
        one.close()
        one.close()  # idempotent

    def test_a_limit_counts_the_partys_unexpired_leases_of_every_node(
        self, nodes: tuple[DeliveryState, ...]
    ) -> None:
        """A limit counts the party's unexpired leases of every node."""
        one, two = nodes
        assert one.claim("t", "iran", [Claim("m1", 0, T0 + SECOND)], now=T0, limit=2) == ["m1"]
        claims = [Claim("m2", 0, T0 + SECOND), Claim("m3", 0, T0 + SECOND)]
        assert two.claim("t", "iran", claims, now=T0, limit=2) == ["m2"]  # m1 holds one of two
        assert two.claim("t", "usa", claims, now=T0, limit=2) == ["m2", "m3"]  # per party
        later = [Claim("m3", 0, T0 + 3 * SECOND)]
        assert two.claim("t", "iran", later, now=T0 + SECOND, limit=2) == ["m3"]  # m1 and m2 expired
        assert one.claim("t", "iran", [Claim("m1", 1, T0 + 3 * SECOND)], now=T0 + SECOND, limit=1) == []
        assert one.claim("t", "iran", [Claim("m3", 1, T0 + 4 * SECOND)], now=T0 + SECOND, limit=1) == ["m3"]
