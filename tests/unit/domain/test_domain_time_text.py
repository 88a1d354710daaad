"""Instants are written as strftime wrote them, on the fast path and the padded-year one (issue #13)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from backchannel.domain._field_codecs import time_text
from backchannel.log.records import format_timestamp

MOMENTS = [
    datetime(2026, 1, 31, 12, 0, tzinfo=UTC),
    datetime(2026, 12, 6, 22, 40, 1, 123456, tzinfo=UTC),
    datetime(2026, 12, 6, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC),
    datetime(1000, 1, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_time_text_and_format_timestamp_are_strftime_s_text(moment: datetime) -> None:
    expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert time_text(moment) == expected
    assert format_timestamp(moment) == expected
