"""Which node runs a track's periodic work: a lease per track in the shared state (ADR-0059).

:class:`WorkLeases` takes, per track, the work lease of
:class:`~backchannel.store.delivery_state.DeliveryState` before
:class:`~backchannel.service.schedule.PeriodicWork` runs that track's
deadlines, dead letters, escalations, escrow expiries and ladder reviews, so
they run on one node at a time. A lease lasts ``ttl``; the holder renews it
when half of it is spent (one write per track per ``ttl / 2`` at most, never
one per tick), and a node that stops cleanly gives its leases up. A node that
dies keeps them until they expire: then another node takes the work over.

Every decision this work logs is idempotent anyway (keys derived from what it
records), so two holders for a moment (a clock far off, a pause longer than the
ttl) log nothing twice; the lease keeps the work, and its writes, on one node.

This module does not run any work and reads no clock (callers pass ``now``).
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

from backchannel.errors import ConfigurationError
from backchannel.store.delivery_state import DeliveryState, WorkLease

__all__ = ["DEFAULT_WORK_TTL", "WorkLeases", "node_id"]

DEFAULT_WORK_TTL = timedelta(seconds=10)
"""How long a track's work lease lasts unless renewed: how soon a dead node's work is taken over."""


def node_id() -> str:
    """A holder name unique to this process and this start."""
    return f"node-{uuid.uuid4().hex[:12]}"


class WorkLeases:
    """This node's view of the per-track work leases (thread-safe).

    Args:
        state: The shared state the leases live in.
        holder: This node's name (:func:`node_id`).
        ttl: How long a lease lasts unless renewed.

    Raises:
        ConfigurationError: a ttl that is not positive.
    """

    def __init__(self, state: DeliveryState, holder: str, ttl: timedelta = DEFAULT_WORK_TTL) -> None:
        """Hold nothing yet."""
        if ttl <= timedelta(0):
            raise ConfigurationError(f"work lease ttl must be positive, got {ttl}")
        self._state = state
        self.holder = holder
        self.ttl = ttl
        self._known: dict[str, WorkLease] = {}
        self._lock = threading.Lock()

    def acquire(self, scope: str, now: datetime) -> datetime | None:
        """Take or renew ``scope``'s lease.

        Returns:
            None if this node holds it now; else when the other holder's lease
            ends (try again then).
        """
        with self._lock:
            known = self._known.get(scope)
        if known is not None and known.expires > now:
            if known.holder != self.holder:
                return known.expires
            if known.expires - now > self.ttl / 2:
                return None  # held, and not half spent: no write
        lease = self._state.acquire_work(scope, self.holder, now, now + self.ttl)
        with self._lock:
            self._known[scope] = lease
        return None if lease.holder == self.holder else lease.expires

    def holds(self, scope: str, now: datetime) -> bool:
        """Whether this node holds ``scope``'s lease at ``now``, as far as it knows (no I/O)."""
        with self._lock:
            known = self._known.get(scope)
        return known is not None and known.holder == self.holder and known.expires > now

    def release_all(self) -> None:
        """Give up every lease this node holds (a clean stop: others take over at once)."""
        with self._lock:
            mine = [scope for scope, lease in self._known.items() if lease.holder == self.holder]
            self._known.clear()
        for scope in mine:
            self._state.release_work(scope, self.holder)
