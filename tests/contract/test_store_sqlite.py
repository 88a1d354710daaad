"""The EventStore contract, run against the SQLite adapter (a fresh file per test)."""

from pathlib import Path

import pytest

from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.contracts import EventStoreContract, StoreFactory


class TestSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return lambda: SQLiteEventStore(tmp_path / "store.db")
