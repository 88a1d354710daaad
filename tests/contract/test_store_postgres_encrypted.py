"""The EventStore contract, run against the PostgreSQL adapter with encryption at rest (ADR-0057).

Every behaviour holds unchanged when payloads are sealed: the store opens them
on read, so callers see the same entries, leaves and checkpoints. A fresh
schema per test.
"""

import pytest

from backchannel.store.encryption import MasterKey
from backchannel.store.postgres import PostgresEventStore
from backchannel.testing.contracts import EventStoreContract, StoreFactory

MASTER = MasterKey(bytes(range(32)), "contract test key")


class TestEncryptedPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store_factory(self, postgres_url: str) -> StoreFactory:
        return lambda: PostgresEventStore(postgres_url, max_size=4, master_key=MASTER)
