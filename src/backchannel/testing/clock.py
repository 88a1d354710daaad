"""A deterministic clock for tests and simulation (trio ``MockClock`` style)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["FakeClock"]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to.

    Args:
        start: The initial time (default 2026-01-01T00:00:00Z).
        autojump: If set, every :meth:`now` call advances the clock by this much
            after reading, so successive events get distinct, increasing times.
    """

    def __init__(self, start: datetime = _EPOCH, *, autojump: timedelta | None = None) -> None:
        """Create the clock."""
        if start.tzinfo is None:
            raise ValueError("FakeClock start must be timezone-aware")
        self._now = start.astimezone(UTC)
        self._autojump = autojump

    def now(self) -> datetime:
        """Return the current virtual time (then autojump, if set)."""
        current = self._now
        if self._autojump is not None:
            self._now += self._autojump
        return current

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward.

        Raises:
            ValueError: a negative delta (time never runs backwards).
        """
        if delta < timedelta(0):
            raise ValueError("FakeClock cannot go backwards")
        self._now += delta
