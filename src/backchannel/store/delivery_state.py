"""The delivery state several nodes share: leases, heartbeats, replay nonces, work leases (ADR-0059).

The log says what is pending, settled, dead-lettered and escalated; what it does
not say, and what every node serving the same database must agree on, lives
behind :class:`DeliveryState`:

- **leases**: per ``(track, party, message)`` the attempts made so far and when
  the latest lease stops hiding the message (``visible_at``). A node claims a
  lease with a compare-and-set on the attempts it saw, so two nodes never both
  grant attempt *n* of one message;
- **heartbeats**: per ``(track, member)`` the latest heartbeat a node wrote
  (nodes write them coarsely, not on every request);
- **nonces**: each ``(track, key id, nonce)`` accepted, until it expires, so a
  request replayed to another node is refused;
- **work leases**: who runs a track's periodic work, until when, so it runs on
  one node at a time and a dead node's work is taken over when its lease expires;
- **versions**: a number per track that grows whenever its log or its leases
  change, which a polling notifier compares (the cross-process wake-up).

:class:`MemoryDeliveryState` is the in-process implementation (one node, tests,
and several nodes in one process); the SQLite one is
:class:`~backchannel.store.sqlite_delivery_state.SQLiteDeliveryState`, the
PostgreSQL one :class:`~backchannel.store.postgres_delivery_state.PostgresDeliveryState`. The
reusable contract suite is :class:`backchannel.testing.delivery_contracts.DeliveryStateContract`.

Times are aware datetimes; implementations store them at microsecond precision.
This module does not decide what is leasable (the delivery service does) and
does not read a clock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["Claim", "DeliveryState", "Heartbeat", "LeaseRecord", "MemoryDeliveryState", "WorkLease"]


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The shared lease of one message to one party.

    Attributes:
        message_id: The message.
        attempts: Leases granted so far (the latest is attempt ``attempts``).
        visible_at: When the latest lease expires (the message is hidden until then).
    """

    message_id: str
    attempts: int
    visible_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease a node wants to grant: attempt ``seen + 1`` of a message, visible again at ``visible_at``.

    Attributes:
        message_id: The message.
        seen: The attempts the node saw (0: no record); the claim holds only if none were added since.
        visible_at: When the new lease expires.
    """

    message_id: str
    seen: int
    visible_at: datetime


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A member's latest heartbeat, as stored.

    Attributes:
        member: The member (``party/name``).
        party: Its party.
        at: When it heart-beat.
    """

    member: str
    party: str
    at: datetime


@dataclass(frozen=True, slots=True)
class WorkLease:
    """Who holds a scope's periodic work, and until when.

    Attributes:
        scope: What the lease covers (a track name).
        holder: The node holding it.
        expires: When it lapses unless renewed.
    """

    scope: str
    holder: str
    expires: datetime


class DeliveryState(Protocol):
    """The delivery state shared by every node of one database (see the module docstring)."""

    def leases(self, track: str, party: str) -> list[LeaseRecord]:
        """Every lease record of ``party`` on ``track``, in message id order."""
        ...

    def claim(
        self, track: str, party: str, claims: Sequence[Claim], *, now: datetime, limit: int | None = None
    ) -> list[str]:
        """Grant each claim whose ``seen`` is at least the stored attempts, in one transaction.

        A granted claim stores ``attempts = seen + 1`` and its ``visible_at``, and
        raises the track's version. So of two nodes that saw the same attempts,
        only the first to claim gets the lease; a node ahead of the store (its
        records lost in a power loss) is not stuck. With a ``limit`` (the party's
        credit), claims are granted, in order, only while the party's unexpired
        leases at ``now`` (other than the claimed messages') stay within it.

        Returns:
            The message ids granted, in the order claimed.
        """
        ...

    def forget(self, track: str, party: str, message_ids: Iterable[str]) -> None:
        """Drop the lease records of messages that are settled or dead-lettered (idempotent)."""
        ...

    def beat(self, track: str, beats: Sequence[Heartbeat]) -> None:
        """Keep each heartbeat unless the stored one of its member is later."""
        ...

    def heartbeats(self, track: str) -> list[Heartbeat]:
        """Every member's latest stored heartbeat on ``track``, by member."""
        ...

    def add_nonce(self, track: str, key_id: str, nonce: str, expires: datetime, now: datetime) -> bool:
        """Record a nonce until ``expires``; False if it is held and unexpired at ``now`` (a replay)."""
        ...

    def acquire_work(self, scope: str, holder: str, now: datetime, expires: datetime) -> WorkLease:
        """Take or renew ``scope``'s work lease for ``holder`` unless another holds it unexpired at ``now``.

        Returns:
            The lease as it stands after the call: ``holder`` holds it until
            ``expires``, or another holder until its own expiry.
        """
        ...

    def release_work(self, scope: str, holder: str) -> None:
        """Give up ``scope``'s work lease if ``holder`` holds it (a node stopping cleanly)."""
        ...

    def versions(self) -> dict[str, int]:
        """Per track, a number that grows whenever its log or its lease records change."""
        ...

    def close(self) -> None:
        """Release what the state holds (a connection). Idempotent."""
        ...


class MemoryDeliveryState:
    """A :class:`DeliveryState` in this process's memory (thread-safe).

    Args:
        sizes: Where the log sizes come from, for :meth:`versions` (``None``:
            leases only; one node's own commits are announced in-process anyway).
    """

    def __init__(self, sizes: _Sizes | None = None) -> None:
        """Start empty."""
        self._lock = threading.Lock()
        self._sizes = sizes
        self._leases: dict[tuple[str, str], dict[str, LeaseRecord]] = {}
        self._beats: dict[str, dict[str, Heartbeat]] = {}
        self._nonces: dict[tuple[str, str, str], datetime] = {}
        self._work: dict[str, WorkLease] = {}
        self._bumps: dict[str, int] = {}

    def leases(self, track: str, party: str) -> list[LeaseRecord]:
        """Every lease record of ``party`` on ``track``, in message id order."""
        with self._lock:
            held = self._leases.get((track, party), {})
            return [held[m] for m in sorted(held)]

    def claim(
        self, track: str, party: str, claims: Sequence[Claim], *, now: datetime, limit: int | None = None
    ) -> list[str]:
        """Grant each claim whose ``seen`` is at least the stored attempts (:meth:`DeliveryState.claim`)."""
        granted: list[str] = []
        with self._lock:
            held = self._leases.setdefault((track, party), {})
            claimed = {c.message_id for c in claims}
            busy = sum(1 for m, r in held.items() if r.visible_at > now and m not in claimed)
            room = len(claims) if limit is None else limit - busy
            for claim in claims:
                if len(granted) >= room:
                    break
                current = held.get(claim.message_id)
                if (0 if current is None else current.attempts) <= claim.seen:
                    held[claim.message_id] = LeaseRecord(claim.message_id, claim.seen + 1, claim.visible_at)
                    granted.append(claim.message_id)
            if granted:
                self._bumps[track] = self._bumps.get(track, 0) + 1
        return granted

    def forget(self, track: str, party: str, message_ids: Iterable[str]) -> None:
        """Drop the lease records of ``message_ids`` (idempotent)."""
        with self._lock:
            held = self._leases.get((track, party), {})
            for message_id in message_ids:
                held.pop(message_id, None)

    def beat(self, track: str, beats: Sequence[Heartbeat]) -> None:
        """Keep each heartbeat unless a later one of its member is stored."""
        with self._lock:
            stored = self._beats.setdefault(track, {})
            for beat in beats:
                old = stored.get(beat.member)
                if old is None or beat.at > old.at:
                    stored[beat.member] = beat

    def heartbeats(self, track: str) -> list[Heartbeat]:
        """Every member's latest heartbeat on ``track``, by member."""
        with self._lock:
            stored = self._beats.get(track, {})
            return [stored[m] for m in sorted(stored)]

    def add_nonce(self, track: str, key_id: str, nonce: str, expires: datetime, now: datetime) -> bool:
        """Record a nonce until ``expires``; False on an unexpired one (expired ones are dropped)."""
        with self._lock:
            for key in [k for k, at in self._nonces.items() if at < now]:
                del self._nonces[key]
            key = (track, key_id, nonce)
            if key in self._nonces:
                return False
            self._nonces[key] = expires
            return True

    def acquire_work(self, scope: str, holder: str, now: datetime, expires: datetime) -> WorkLease:
        """Take or renew ``scope``'s work lease unless another holds it unexpired."""
        with self._lock:
            current = self._work.get(scope)
            if current is None or current.holder == holder or current.expires <= now:
                current = self._work[scope] = WorkLease(scope, holder, expires)
            return current

    def release_work(self, scope: str, holder: str) -> None:
        """Give up ``scope``'s work lease if ``holder`` holds it."""
        with self._lock:
            current = self._work.get(scope)
            if current is not None and current.holder == holder:
                del self._work[scope]

    def versions(self) -> dict[str, int]:
        """Per track: its log size plus the lease claims made (both only grow)."""
        sizes = {} if self._sizes is None else self._sizes()
        with self._lock:
            bumps = dict(self._bumps)
        return {t: sizes.get(t, 0) + bumps.get(t, 0) for t in sorted(sizes.keys() | bumps.keys())}

    def close(self) -> None:
        """Nothing to release."""


class _Sizes(Protocol):
    def __call__(self) -> Mapping[str, int]: ...
