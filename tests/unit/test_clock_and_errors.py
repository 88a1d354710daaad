"""Clocks (system and fake) and the error tree."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

import backchannel
import backchannel.errors
from backchannel.clock import Clock, SystemClock
from backchannel.errors import (
    BackchannelError,
    ConfigurationError,
    ConflictError,
    DomainError,
    EncodingError,
    NotFoundError,
    OperationalError,
    PayloadTooLargeError,
    ProgrammingError,
    StorageError,
    VerificationError,
)
from backchannel.testing.clock import FakeClock

# --------------------------------------------------------------------------------------------------
# SystemClock
# --------------------------------------------------------------------------------------------------


def test_system_clock_returns_aware_utc_now() -> None:
    clock: Clock = SystemClock()
    before = datetime.now(UTC)
    now = clock.now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert now.tzinfo is UTC
    assert before <= now <= after


# --------------------------------------------------------------------------------------------------
# FakeClock
# --------------------------------------------------------------------------------------------------


def test_fake_clock_default_start_and_standing_still() -> None:
    clock: Clock = FakeClock()
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.now() == clock.now()
    assert clock.now().tzinfo is UTC


def test_fake_clock_start_is_converted_to_utc() -> None:
    start = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=3)))
    clock = FakeClock(start)
    now = clock.now()
    assert now == start
    assert now.tzinfo is UTC
    assert (now.hour, now.minute) == (9, 0)


def test_fake_clock_refuses_naive_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        FakeClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_fake_clock_advance() -> None:
    clock = FakeClock()
    clock.advance(timedelta(seconds=90))
    assert clock.now() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    clock.advance(timedelta(0))
    assert clock.now() == datetime(2026, 1, 1, 0, 1, 30, tzinfo=UTC)
    clock.advance(timedelta(days=1, microseconds=1))
    assert clock.now() == datetime(2026, 1, 2, 0, 1, 30, 1, tzinfo=UTC)


@pytest.mark.parametrize("delta", [timedelta(microseconds=-1), timedelta(days=-1)])
def test_fake_clock_refuses_negative_advance(delta: timedelta) -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="cannot go backwards"):
        clock.advance(delta)
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_fake_clock_autojump_gives_distinct_increasing_times() -> None:
    step = timedelta(milliseconds=5)
    clock = FakeClock(autojump=step)
    times = [clock.now() for _ in range(4)]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert times == [start, start + step, start + 2 * step, start + 3 * step]
    clock.advance(timedelta(seconds=1))
    assert clock.now() == start + 4 * step + timedelta(seconds=1)


# --------------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------------


def test_diagnostics_without_cause() -> None:
    err = EncodingError("sig: not valid base64")
    assert err.diagnostics() == "EncodingError: sig: not valid base64"


def test_diagnostics_with_chained_cause() -> None:
    def fail() -> None:
        try:
            int("x")
        except ValueError as e:
            raise ConfigurationError("key file k is malformed") from e

    with pytest.raises(ConfigurationError) as info:
        fail()
    assert info.value.diagnostics() == (
        "ConfigurationError: key file k is malformed\n"
        "  caused by ValueError: invalid literal for int() with base 10: 'x'"
    )


def test_diagnostics_ignores_implicit_context() -> None:
    # only an explicit ``raise ... from e`` is reported as the cause
    def fail() -> None:
        try:
            raise KeyError("track")
        except KeyError:
            raise NotFoundError("no such track") from None

    with pytest.raises(NotFoundError) as info:
        fail()
    assert info.value.__context__ is not None
    assert info.value.diagnostics() == "NotFoundError: no such track"


def test_diagnostics_on_subclasses_names_the_subclass() -> None:
    err = OperationalError("database is locked")
    err.__cause__ = TimeoutError("5s")
    assert err.diagnostics() == "OperationalError: database is locked\n  caused by TimeoutError: 5s"


def test_conflict_error_attributes() -> None:
    err = ConflictError("stale append", expected=3, actual=5)
    assert (err.expected, err.actual) == (3, 5)
    assert str(err) == "stale append"
    bare = ConflictError("stale")
    assert (bare.expected, bare.actual) == (None, None)
    with pytest.raises(TypeError):
        ConflictError("stale", 3, 5)  # type: ignore[misc]


def test_verification_error_attributes() -> None:
    err = VerificationError("root mismatch", index=7)
    assert err.index == 7
    assert str(err) == "root mismatch"
    assert VerificationError("bad").index is None
    assert VerificationError("bad", index=0).index == 0
    with pytest.raises(TypeError):
        VerificationError("bad", 7)  # type: ignore[misc]


def test_payload_too_large_error_names_what_and_the_limit() -> None:
    err = PayloadTooLargeError(1024, "annex")
    assert err.limit == 1024
    assert str(err) == "annex larger than the limit of 1024 bytes"
    assert str(PayloadTooLargeError(7)) == "request body larger than the limit of 7 bytes"


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (DomainError, BackchannelError),
        (ConflictError, BackchannelError),
        (VerificationError, BackchannelError),
        (EncodingError, BackchannelError),
        (PayloadTooLargeError, EncodingError),
        (StorageError, BackchannelError),
        (OperationalError, StorageError),
        (ProgrammingError, StorageError),
        (NotFoundError, BackchannelError),
        (ConfigurationError, BackchannelError),
        (BackchannelError, Exception),
    ],
)
def test_error_tree(cls: type[Exception], parent: type[Exception]) -> None:
    assert cls.__bases__ == (parent,)


def test_error_families_are_disjoint() -> None:
    families = [DomainError, ConflictError, VerificationError, EncodingError, StorageError]
    families += [NotFoundError, ConfigurationError]
    for a in families:
        for b in families:
            assert issubclass(a, b) == (a is b)


def test_package_reexports_the_error_tree() -> None:
    for name in set(backchannel.__all__) & set(
        backchannel.errors.__all__
    ):  # the curated API has more (issue #8)
        assert getattr(backchannel, name) is getattr(backchannel.errors, name)
    assert {"BackchannelError", "VerificationError", "EncodingError"} <= set(backchannel.__all__)
