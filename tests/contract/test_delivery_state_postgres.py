"""The PostgreSQL shared delivery state passes the delivery-state contract (ADR-0059), and its own rules."""

from __future__ import annotations

import threading

import psycopg
import pytest

from backchannel.errors import ProgrammingError
from backchannel.store.delivery_state import Claim
from backchannel.store.postgres import PostgresEventStore
from backchannel.store.postgres_delivery_state import CHANNEL_PREFIX, PostgresDeliveryState, channel_name
from backchannel.testing.delivery_contracts import T0, DeliveryStateContract, StateFactory, TrackMaker


class TestPostgresDeliveryState(DeliveryStateContract):
    @pytest.fixture
    def open_state(self, postgres_url: str) -> StateFactory:
        return lambda: PostgresDeliveryState(postgres_url)

    @pytest.fixture
    def create_track(self, postgres_url: str) -> TrackMaker:
        def create(name: str, size: int) -> None:
            PostgresDeliveryState(postgres_url).close()  # migrated, as a node's store does
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(
                    "INSERT INTO tracks (name, origin, log_key, size) VALUES (%s, 'o', 'k', %s)", (name, size)
                )

        return create


def test_it_shares_the_event_stores_schema(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url) as store:
        store.create_track("t", "o", "k")
        state = PostgresDeliveryState(postgres_url)
        try:
            assert state.versions() == {"t": 0}
            state.claim("t", "iran", [Claim("m", 0, T0)], now=T0)
            assert state.versions() == {"t": 1}
            assert store.quick_check() == []  # the delivery tables are part of the schema's check
            assert state.channel == CHANNEL_PREFIX + state.schema
        finally:
            state.close()


def test_its_commits_do_not_wait_for_the_disk_but_the_log_s_do(postgres_url: str) -> None:
    with PostgresEventStore(postgres_url) as store, store._connection("test") as log_conn:
        assert log_conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    state = PostgresDeliveryState(postgres_url)
    try:
        with state._connection("test") as conn:
            assert conn.execute("SHOW synchronous_commit").fetchone() == ("off",)
    finally:
        state.close()


def test_a_closed_state_says_so(postgres_url: str) -> None:
    state = PostgresDeliveryState(postgres_url)
    state.close()
    state.close()
    with pytest.raises(ProgrammingError, match="closed"):
        state.leases("t", "iran")
    with pytest.raises(ProgrammingError, match="closed"):
        state.add_nonce("t", "k", "n", T0, T0)


def test_a_failed_write_is_rolled_back_and_mapped(postgres_url: str) -> None:
    state = PostgresDeliveryState(postgres_url)
    try:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("DROP TABLE work_leases")
        with pytest.raises(ProgrammingError, match="work lease"):
            state.acquire_work("t", "node", T0, T0)
        assert state.leases("t", "iran") == []  # the pool's connection is usable after the rollback
    finally:
        state.close()


def test_expired_nonces_are_pruned_in_batches(postgres_url: str) -> None:
    state = PostgresDeliveryState(postgres_url)
    try:
        for n in range(300):
            state.add_nonce("t", "k", f"n{n}", T0, T0)  # each expires at T0
        later = T0.replace(year=2027)
        state._added = 255  # the next addition prunes
        state.add_nonce("t", "k", "fresh", later, later)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            row = conn.execute("SELECT count(*) FROM replay_nonces").fetchone()
        assert row == (1,)
    finally:
        state.close()


@pytest.mark.parametrize(
    "schema",
    ["bc_test_0123456789abcdef", "x" * 63, "é" * 40, "s" * 50 + "a", "s" * 50 + "b"],
)
def test_a_channel_name_fits_an_identifier_and_names_its_schema(schema: str) -> None:
    name = channel_name(schema)
    assert len(name.encode()) <= 63
    assert name.startswith(CHANNEL_PREFIX)
    assert name == channel_name(schema)


def test_long_schema_names_sharing_a_prefix_get_distinct_channels() -> None:
    assert channel_name("s" * 60 + "a") != channel_name("s" * 60 + "b")
    assert channel_name("short") == "backchannel:short"


def test_claims_and_forgets_of_one_party_on_two_nodes_never_deadlock(postgres_url: str) -> None:
    one, two = PostgresDeliveryState(postgres_url), PostgresDeliveryState(postgres_url)
    ids = [f"m{i}" for i in range(10)]
    failures: list[BaseException] = []

    def claims() -> None:
        for n in range(30):
            order = ids if n % 2 else ids[::-1]
            try:
                one.claim("t", "iran", [Claim(m, 0, T0) for m in order], now=T0)
            except BaseException as e:  # noqa: BLE001 - reported below
                failures.append(e)

    def forgets() -> None:
        for n in range(30):
            try:
                two.forget("t", "iran", ids[::-1] if n % 2 else ids)
            except BaseException as e:  # noqa: BLE001 - reported below
                failures.append(e)

    try:
        threads = [threading.Thread(target=claims), threading.Thread(target=forgets)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert failures == []
    finally:
        one.close()
        two.close()
