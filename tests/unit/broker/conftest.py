"""Fixtures for the broker unit tests: envelopes and queues on a fixed clock."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from backchannel.broker import DeliveryPolicy, Envelope, Priority, RecipientQueue

T0 = datetime(2026, 1, 1, tzinfo=UTC)

EnvelopeFactory = Callable[..., Envelope]
QueueFactory = Callable[..., RecipientQueue]


@pytest.fixture
def t0() -> datetime:
    return T0


@pytest.fixture
def envelope() -> EnvelopeFactory:
    """``envelope("m1", Priority.FLASH, log_index=7)``: an envelope for the ``t`` / ``iran`` queue."""

    def make(
        message_id: str, priority: Priority = Priority.ROUTINE, *, log_index: int = 0, **fields: Any
    ) -> Envelope:
        values: dict[str, Any] = {
            "track": "t",
            "sender": "usa",
            "recipient": "iran",
            "size": 100,
        } | fields
        return Envelope(message_id=message_id, log_index=log_index, priority=priority, **values)

    return make


@pytest.fixture
def queue() -> QueueFactory:
    """``queue(credit=2)``: the ``t`` / ``iran`` queue with those policy fields overridden."""

    def make(**policy: Any) -> RecipientQueue:
        return RecipientQueue("t", "iran", DeliveryPolicy(**policy))

    return make
