"""The SQLite shared delivery state passes the delivery-state contract (ADR-0059), and its own rules."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from backchannel.errors import ProgrammingError
from backchannel.store.delivery_state import Claim
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.store.sqlite_delivery_state import SQLiteDeliveryState
from backchannel.testing.delivery_contracts import T0, DeliveryStateContract, StateFactory, TrackMaker


class TestSQLiteDeliveryState(DeliveryStateContract):
    @pytest.fixture
    def path(self, tmp_path: Path) -> Path:
        path = tmp_path / "store.db"
        SQLiteEventStore(path).close()  # the log's store made it, as a node does
        return path

    @pytest.fixture
    def open_state(self, path: Path) -> StateFactory:
        return lambda: SQLiteDeliveryState(path)

    @pytest.fixture
    def create_track(self, path: Path) -> TrackMaker:
        def create(name: str, size: int) -> None:
            with contextlib.closing(sqlite3.connect(path)) as conn, conn:
                conn.execute(
                    "INSERT INTO tracks (name, origin, log_key, size) VALUES (?, 'o', 'k', ?)", (name, size)
                )

        return create


def test_a_closed_state_says_so(tmp_path: Path) -> None:
    state = SQLiteDeliveryState(tmp_path / "store.db")
    state.close()
    with pytest.raises(ProgrammingError, match="closed"):
        state.leases("t", "iran")
    with pytest.raises(ProgrammingError, match="closed"):
        state.add_nonce("t", "k", "n", T0, T0)


def test_a_failed_write_is_rolled_back_and_mapped(tmp_path: Path) -> None:
    state = SQLiteDeliveryState(tmp_path / "store.db")
    try:
        with contextlib.closing(sqlite3.connect(tmp_path / "store.db")) as conn, conn:
            conn.execute("DROP TABLE work_leases")
        with pytest.raises(ProgrammingError, match="work lease"):
            state.acquire_work("t", "node", T0, T0)
        assert state.leases("t", "iran") == []  # the connection is usable after the rollback
    finally:
        state.close()


def test_it_runs_without_an_fsync_per_commit(tmp_path: Path) -> None:
    state = SQLiteDeliveryState(tmp_path / "store.db")
    try:
        assert state._connection().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    finally:
        state.close()


def test_the_data_version_moves_when_another_connection_commits(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    SQLiteEventStore(path).close()
    one, two = SQLiteDeliveryState(path), SQLiteDeliveryState(path)
    try:
        before = one.data_version()
        assert one.data_version() == before
        two.claim("t", "iran", [Claim("m", 0, T0)], now=T0)
        assert one.data_version() != before
    finally:
        one.close()
        two.close()
