"""The EventStore contract, run against the PostgreSQL adapter (a fresh schema per test)."""

import pytest

from backchannel.store.postgres import PostgresEventStore
from backchannel.testing.contracts import EventStoreContract, StoreFactory


class TestPostgresEventStore(EventStoreContract):
    @pytest.fixture
    def store_factory(self, postgres_url: str) -> StoreFactory:
        return lambda: PostgresEventStore(postgres_url, max_size=4)
