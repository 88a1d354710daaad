"""The EventStore contract, run against the in-memory adapter."""

import pytest

from backchannel.store.memory import MemoryEventStore
from backchannel.testing.contracts import EventStoreContract, StoreFactory


class TestMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        return MemoryEventStore
