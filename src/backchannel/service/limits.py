"""Per-member limits on long-lived requests: at most so many open streams per member.

One member opened 400 Server-Sent-Event streams (issue #8); each holds a
socket, a task and a re-check every second. :class:`StreamSlots` gives each
``(track, member)`` at most ``per_member`` open streams (default
:data:`DEFAULT_STREAMS_PER_MEMBER`); one more is refused with
:class:`~backchannel.errors.RateLimitedError`, whose ``retry_after`` is the
truth: the seconds until the member's earliest open stream reaches the end of
its lifetime (a stream ends at its ``timeout`` at the latest).

This module does not open or close streams (the HTTP adapter does, and
releases its slot when the stream ends, however it ends) and holds no
sockets.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from backchannel.errors import ConfigurationError, RateLimitedError

__all__ = ["DEFAULT_STREAMS_PER_MEMBER", "StreamSlots", "StreamStatistics"]

DEFAULT_STREAMS_PER_MEMBER = 8
"""How many streams one member of one track may hold open at once."""
_GRACE_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class StreamStatistics:
    """A snapshot of :class:`StreamSlots`.

    Attributes:
        open: Streams open now.
        members: ``(track, member)`` pairs with an open stream.
        refused: Streams refused since start.
    """

    open: int
    members: int
    refused: int


class StreamSlots:
    """Counts each member's open streams, within ``per_member``. Safe to share between threads."""

    def __init__(
        self, per_member: int = DEFAULT_STREAMS_PER_MEMBER, *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        """Allow ``per_member`` open streams per member of a track.

        Raises:
            ConfigurationError: ``per_member`` below one.
        """
        if per_member < 1:
            raise ConfigurationError(f"streams per member must be at least 1, got {per_member}")
        self._per_member = per_member
        self._monotonic = monotonic
        self._open: dict[tuple[str, str], dict[int, float]] = {}
        self._ids = itertools.count()
        self._refused = 0
        self._lock = threading.Lock()

    @property
    def per_member(self) -> int:
        """How many streams one member may hold open."""
        return self._per_member

    @contextlib.contextmanager
    def hold(self, track: str, member: str, lifetime: float) -> Iterator[None]:
        """Hold one of ``member``'s slots for a stream that ends within ``lifetime`` seconds.

        Raises:
            RateLimitedError: the member already holds ``per_member`` open streams.
        """
        slot = self.acquire(track, member, lifetime)
        try:
            yield
        finally:
            self.release(track, member, slot)

    def acquire(self, track: str, member: str, lifetime: float) -> int:
        """Take a slot (release it with :meth:`release`); return its id.

        Raises:
            RateLimitedError: the member already holds ``per_member`` open streams.
        """
        now = self._monotonic()
        with self._lock:
            held = self._open.setdefault((track, member), {})
            for stale in [s for s, ends in held.items() if ends + _GRACE_SECONDS < now]:
                del held[stale]  # a stream whose release was lost: it ended long ago
            if len(held) >= self._per_member:
                self._refused += 1
                retry_after = max(1, math.ceil(min(held.values()) - now))
                raise RateLimitedError(
                    f"{member} already holds {len(held)} open streams on track {track!r}, the most one "
                    f"member may (at most {self._per_member}); the earliest ends within {retry_after} s",
                    retry_after=retry_after,
                    limit=self._per_member,
                )
            slot = next(self._ids)
            held[slot] = now + lifetime
            return slot

    def release(self, track: str, member: str, slot: int) -> None:
        """Give a slot back (idempotent)."""
        with self._lock:
            held = self._open.get((track, member))
            if held is not None:
                held.pop(slot, None)
                if not held:
                    del self._open[(track, member)]

    def statistics(self) -> StreamStatistics:
        """Counters and sizes, now."""
        with self._lock:
            return StreamStatistics(
                open=sum(len(h) for h in self._open.values()), members=len(self._open), refused=self._refused
            )
