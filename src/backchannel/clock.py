"""Time as an input: the Clock protocol and the system clock.

Domain and log code never read the time; they receive ``now``. The service is
handed a :class:`Clock`, so tests and the simulator can run it on virtual time
(:class:`backchannel.testing.clock.FakeClock`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    """Something that says what time it is (timezone-aware, UTC)."""

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        """Return the current UTC time."""
        return datetime.now(UTC)
