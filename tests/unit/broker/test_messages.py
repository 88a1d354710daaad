from datetime import UTC, datetime, timedelta, timezone

import pytest

from backchannel.broker import DeliveryError, Envelope, Priority, UnknownDeliveryError, WouldBlock
from backchannel.broker._time import utc
from backchannel.errors import BackchannelError


def test_priority_ranks_flash_before_priority_before_routine() -> None:
    assert [p.rank for p in (Priority.FLASH, Priority.PRIORITY, Priority.ROUTINE)] == [0, 1, 2]
    assert sorted(Priority, key=lambda p: p.rank) == [Priority.FLASH, Priority.PRIORITY, Priority.ROUTINE]
    assert Priority("flash") is Priority.FLASH
    assert str(Priority.ROUTINE) == "routine"


def test_envelope_sort_key_is_rank_then_log_index_then_id(envelope) -> None:
    assert envelope("m", Priority.PRIORITY, log_index=9).sort_key == (1, 9, "m")


def test_envelope_is_frozen(envelope) -> None:
    e = envelope("m")
    with pytest.raises(AttributeError):
        e.size = 3


@pytest.mark.parametrize(
    "fields",
    [
        {"message_id": ""},
        {"track": ""},
        {"sender": ""},
        {"recipient": ""},
        {"log_index": -1},
        {"size": -1},
    ],
)
def test_envelope_refuses_impossible_values(fields) -> None:
    values = {
        "message_id": "m",
        "log_index": 0,
        "track": "t",
        "sender": "usa",
        "recipient": "iran",
        "priority": Priority.FLASH,
        "size": 0,
    } | fields
    with pytest.raises(ValueError, match=next(iter(fields))):
        Envelope(**values)


def test_error_family() -> None:
    blocked = WouldBlock("full", retry_after=2.5, queued=3, limit=3)
    assert isinstance(blocked, DeliveryError)
    assert isinstance(blocked, BackchannelError)
    assert (blocked.retry_after, blocked.queued, blocked.limit) == (2.5, 3, 3)
    unknown = UnknownDeliveryError("m9")
    assert isinstance(unknown, DeliveryError)
    assert unknown.message_id == "m9"
    assert "m9" in unknown.diagnostics()


def test_utc_refuses_naive_and_normalises_offsets() -> None:
    with pytest.raises(ValueError, match="naive"):
        utc(datetime(2026, 1, 1))  # noqa: DTZ001
    plus_two = datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2)))
    assert utc(plus_two) == datetime(2026, 1, 1, tzinfo=UTC)
    assert utc(plus_two).tzinfo is UTC
