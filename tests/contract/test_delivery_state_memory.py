"""The in-process shared delivery state passes the delivery-state contract (ADR-0059)."""

from __future__ import annotations

import pytest

from backchannel.store.delivery_state import MemoryDeliveryState
from backchannel.testing.delivery_contracts import DeliveryStateContract, StateFactory, TrackMaker


class TestMemoryDeliveryState(DeliveryStateContract):
    @pytest.fixture
    def sizes(self) -> dict[str, int]:
        return {}

    @pytest.fixture
    def open_state(self, sizes: dict[str, int]) -> StateFactory:
        state = MemoryDeliveryState(lambda: dict(sizes))  # two nodes in one process share one object
        return lambda: state

    @pytest.fixture
    def create_track(self, sizes: dict[str, int]) -> TrackMaker:
        return sizes.__setitem__


def test_without_log_sizes_versions_count_claims_only() -> None:
    from backchannel.store.delivery_state import Claim
    from backchannel.testing.delivery_contracts import T0

    state = MemoryDeliveryState()
    assert state.versions() == {}
    state.claim("t", "iran", [Claim("m", 0, T0)], now=T0)
    assert state.versions() == {"t": 1}
