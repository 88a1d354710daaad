"""The replay store of RFC 9421 verification: each ``(key id, nonce)`` accepted once.

:class:`NonceCache` remembers a nonce until its ``created + window`` has
passed, bounded in memory and safe to share between threads; its
:meth:`~NonceCache.statistics` reports how full it is.

This module does not read the clock (the caller passes ``now``), does not
persist nonces across restarts, and does not verify signatures
(:mod:`backchannel.protocol.httpsig` does, then records the nonce here).
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from backchannel.errors import ConfigurationError, EncodingError, OperationalError, VerificationError

__all__ = ["NonceCache", "NonceStatistics", "NonceStore", "require_aware"]


def require_aware(moment: datetime, what: str) -> datetime:
    """Return ``moment`` if it is timezone-aware.

    Args:
        moment: The datetime to check.
        what: Its name, for the error message.

    Returns:
        ``moment`` unchanged.

    Raises:
        EncodingError: a naive datetime.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EncodingError(f"{what}: datetime must be timezone-aware")
    return moment


class NonceStore(Protocol):
    """What :func:`~backchannel.protocol.httpsig.verify_request` records nonces in.

    :class:`NonceCache`, or a per-key budgeted window
    (:class:`backchannel.service.replay.TrackNonces`, issue #8).
    """

    @property
    def window(self) -> timedelta:
        """How long after ``created`` a nonce is remembered."""
        ...

    def check_and_add(self, key_id: str, nonce: str, created: datetime, now: datetime) -> None:
        """Record a nonce; raise :class:`~backchannel.errors.VerificationError` on a replay."""
        ...


@dataclass(frozen=True, slots=True)
class NonceStatistics:
    """A snapshot of a :class:`NonceCache` (trio ``statistics()`` style).

    Attributes:
        held: Nonces held now (expired ones linger until the next check).
        max_entries: The most unexpired nonces kept at once.
        window_seconds: How long after ``created`` a nonce is remembered.
        accepted_total: Nonces recorded so far.
        replays_refused_total: Requests refused as replays (or older than the window).
        full_refusals_total: Requests refused because the cache was full.
        expired_total: Nonces forgotten after their window.
    """

    held: int
    max_entries: int
    window_seconds: float
    accepted_total: int
    replays_refused_total: int
    full_refusals_total: int
    expired_total: int


class NonceCache:
    """Remembers each ``(key id, nonce)`` until ``created + window`` has passed.

    Memory is bounded by ``max_entries``: expired entries are evicted first,
    and when the cache is still full a new request is refused
    (:class:`~backchannel.errors.OperationalError`, retry later) rather than
    an unexpired nonce forgotten. Fail closed. Safe to share between threads.

    The cache lives in one process: replicas behind a load balancer need a
    shared one (or sticky routing), which this class does not provide.
    """

    def __init__(self, window: timedelta, max_entries: int) -> None:
        """Create an empty cache.

        Args:
            window: How long after ``created`` a nonce is remembered; must be at
                least the verifier's ``max_skew``.
            max_entries: The most unexpired nonces kept at once.

        Raises:
            ConfigurationError: a window that is not positive, or fewer than one entry.
        """
        if window <= timedelta(0):
            raise ConfigurationError(f"nonce window must be positive, got {window}")
        if max_entries < 1:
            raise ConfigurationError(f"nonce cache max_entries must be at least 1, got {max_entries}")
        self._window = window
        self._max_entries = max_entries
        self._expiry: dict[tuple[str, str], datetime] = {}
        self._heap: list[tuple[datetime, str, str]] = []
        self._lock = threading.Lock()
        self._accepted = self._replays = self._full = self._expired = 0

    def statistics(self) -> NonceStatistics:
        """How full the cache is and what it has refused."""
        with self._lock:
            return NonceStatistics(
                held=len(self._expiry),
                max_entries=self._max_entries,
                window_seconds=self._window.total_seconds(),
                accepted_total=self._accepted,
                replays_refused_total=self._replays,
                full_refusals_total=self._full,
                expired_total=self._expired,
            )

    @property
    def window(self) -> timedelta:
        """How long after ``created`` a nonce is remembered."""
        return self._window

    @property
    def max_entries(self) -> int:
        """The most unexpired nonces kept at once."""
        return self._max_entries

    def __len__(self) -> int:
        """The number of nonces held (expired ones linger until the next check)."""
        with self._lock:
            return len(self._expiry)

    def check_and_add(self, key_id: str, nonce: str, created: datetime, now: datetime) -> None:
        """Record a nonce, refusing a replay.

        Args:
            key_id: The key the request was signed with.
            nonce: The request's nonce.
            created: The request's ``created`` time.
            now: The verifier's current time.

        Raises:
            VerificationError: the pair was seen and has not expired, or
                ``created`` is so old that its nonce would already have expired.
            OperationalError: the cache is full of unexpired nonces.
            EncodingError: a naive datetime.
        """
        expires = require_aware(created, "created") + self._window
        if expires < require_aware(now, "now"):
            with self._lock:
                self._replays += 1
            raise VerificationError(
                f"nonce {nonce!r}: created {created.isoformat()} is older than the replay window "
                f"({self._window}), so its replay cannot be ruled out"
            )
        entry = (key_id, nonce)
        with self._lock:
            while self._heap and self._heap[0][0] < now:
                _, old_key_id, old_nonce = heapq.heappop(self._heap)
                del self._expiry[old_key_id, old_nonce]
                self._expired += 1
            if entry in self._expiry:
                self._replays += 1
                raise VerificationError(
                    f"replayed nonce {nonce!r} for key {key_id} (seen within {self._window})"
                )
            if len(self._expiry) >= self._max_entries:
                self._full += 1
                raise OperationalError(
                    f"nonce cache full: {self._max_entries} unexpired nonces; refusing the request "
                    "rather than forgetting one (retry later)"
                )
            self._expiry[entry] = expires
            self._accepted += 1
            heapq.heappush(self._heap, (expires, key_id, nonce))
