"""The delivery service's totals over its queues (split out of :mod:`backchannel.service.delivery`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from backchannel.broker import RecipientQueue

__all__ = ["DeliveryStatistics", "totals"]


@dataclass(frozen=True, slots=True)
class DeliveryStatistics:
    """A snapshot of every queue a :class:`DeliveryService` holds (trio ``statistics()`` style).

    The counters are sums over the queues built so far (each track's parties);
    :meth:`DeliveryService.statistics` with a track gives each party's own.

    Attributes:
        tracks: Tracks whose queues are built.
        queues: Queues built (one per track and party).
        queued: Messages held (ready and in flight).
        in_flight: Messages leased and not yet settled.
        leases_held: Leases held unexpired (a reconnecting stream is sent them again).
        settled_total: Messages settled so far.
        redeliveries_total: Leases that expired unsettled and were queued again.
        dead_lettered_total: Messages dead-lettered so far.
        escalated_total: Escalations raised so far.
    """

    tracks: int
    queues: int
    queued: int
    in_flight: int
    leases_held: int
    settled_total: int
    redeliveries_total: int
    dead_lettered_total: int
    escalated_total: int


def totals(queues: Mapping[tuple[str, str], RecipientQueue]) -> DeliveryStatistics:
    """The totals over ``queues`` (by ``(track, party)``)."""
    each = [q.statistics() for q in queues.values()]
    return DeliveryStatistics(
        tracks=len({track for track, _ in queues}),
        queues=len(each),
        queued=sum(s.queued for s in each),
        in_flight=sum(s.in_flight for s in each),
        leases_held=sum(s.in_flight for s in each),
        settled_total=sum(s.settled_total for s in each),
        redeliveries_total=sum(s.redeliveries_total for s in each),
        dead_lettered_total=sum(s.dead_lettered_total for s in each),
        escalated_total=sum(s.escalated_total for s in each),
    )
