"""The EventStore contract, run against the SQLite adapter with encryption at rest (ADR-0057).

Every behaviour holds unchanged when payloads are sealed: the store opens them
on read, so callers see the same entries, leaves and checkpoints.
"""

from pathlib import Path

import pytest

from backchannel.store.encryption import MasterKey
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.contracts import EventStoreContract, StoreFactory

MASTER = MasterKey(bytes(range(32)), "contract test key")


class TestEncryptedSQLiteEventStore(EventStoreContract):
    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        return lambda: SQLiteEventStore(tmp_path / "store.db", master_key=MASTER)
