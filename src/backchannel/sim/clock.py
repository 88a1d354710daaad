"""Virtual time and seeded randomness for the simulator.

:class:`VirtualClock` is the one clock of a run: the service reads it, and each
simulated client reads it through a :class:`SkewedClock` (its own offset, the
clock-skew fault). :func:`entropy` turns a seeded ``numpy.random.Generator``
into the ``n -> bytes`` source the SDK (nonces, idempotency keys) and the log
writer (leaf salts) draw from.

This module never reads the wall clock and holds no global random state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np

__all__ = ["ENTROPY_BLOCK", "EPOCH", "SkewedClock", "VirtualClock", "entropy"]

EPOCH = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
"""When every simulated run starts (virtual time)."""


class VirtualClock:
    """A clock that moves only when the simulator advances it.

    Args:
        start: The first instant (aware, UTC).
    """

    def __init__(self, start: datetime = EPOCH) -> None:
        """Create the clock at ``start``."""
        self._now = start

    def now(self) -> datetime:
        """The current virtual time."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds`` (negative values are ignored: time never runs backwards)."""
        if seconds > 0:
            self._now += timedelta(seconds=seconds)

    def elapsed(self, start: datetime = EPOCH) -> float:
        """Virtual seconds since ``start``."""
        return (self._now - start).total_seconds()


class SkewedClock:
    """One client's view of a :class:`VirtualClock`: the same time plus an offset.

    Args:
        base: The run's clock.
        skew: Seconds this client's clock is ahead (negative: behind).
    """

    def __init__(self, base: VirtualClock, skew: float = 0.0) -> None:
        """Create the view."""
        self.base = base
        self.skew = skew

    def now(self) -> datetime:
        """The base time plus the skew."""
        return self.base.now() + timedelta(seconds=self.skew)


ENTROPY_BLOCK = 4096
"""Bytes :func:`entropy` draws from its generator at a time."""


def entropy(rng: np.random.Generator) -> Callable[[int], bytes]:
    """An ``n -> n bytes`` source drawn from ``rng`` (unsafe outside simulation: predictable).

    The bytes are drawn :data:`ENTROPY_BLOCK` at a time and handed out in order: one
    ``Generator.bytes`` call costs tens of microseconds whatever its size, and a run
    draws a nonce, a salt or a request id for nearly every command. The stream is a
    function of the generator's seed alone, so a seed still gives one run.
    """
    buffer = b""
    offset = 0

    def draw(size: int) -> bytes:
        nonlocal buffer, offset
        if offset + size > len(buffer):
            buffer = buffer[offset:] + rng.bytes(max(ENTROPY_BLOCK, size))
            offset = 0
        offset += size
        return buffer[offset - size : offset]

    return draw
