"""The leases a party holds, so a reconnecting stream can be sent them again.

:class:`LeaseBook` remembers, per ``(track, party)``, the deliveries leased and
not yet settled or expired. A Server-Sent Events stream that reconnects with
``Last-Event-ID: n`` is first sent the held deliveries above log index ``n``
(the client may have missed them). What it holds stays within the party's
credit: settled and expired leases are forgotten on every lease and resend.

This module does not lease anything itself (the delivery service's queues do)
and is not thread-safe on its own: :class:`~backchannel.service.delivery.DeliveryService`
calls it under its lock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from backchannel.broker import Delivery
from backchannel.domain import TrackState

__all__ = ["LeaseBook"]


class LeaseBook:
    """Leased, unsettled, unexpired deliveries per ``(track, party)``."""

    def __init__(self) -> None:
        """Start empty."""
        self._held: dict[tuple[str, str], dict[str, Delivery]] = {}

    def hold(self, state: TrackState, party: str, deliveries: Iterable[Delivery], now: datetime) -> None:
        """Remember ``deliveries`` just leased to ``party`` (forgetting settled or expired ones)."""
        held = self._held.setdefault((state.track, party), {})
        _drop_settled_or_expired(held, state, now)
        for delivery in deliveries:
            held[delivery.envelope.message_id] = delivery

    def held_after(self, state: TrackState, party: str, after: int, now: datetime) -> list[Delivery]:
        """The deliveries held by ``party`` above log index ``after``, in log order."""
        held = self._held.get((state.track, party), {})
        _drop_settled_or_expired(held, state, now)
        return sorted(
            (d for d in held.values() if d.envelope.log_index > after), key=lambda d: d.envelope.log_index
        )

    def __len__(self) -> int:
        """How many leases are held, over every track and party."""
        return sum(len(held) for held in self._held.values())


def _drop_settled_or_expired(held: dict[str, Delivery], state: TrackState, now: datetime) -> None:
    """Forget leased deliveries that were settled or expired; what stays is within the credit.

    An expired lease is redelivered by the tick and handed out again by the next lease.
    """
    for message_id in [m for m, d in held.items() if not _pending(state, d) or d.visible_at <= now]:
        del held[message_id]


def _pending(state: TrackState, delivery: Delivery) -> bool:
    envelope = delivery.envelope
    message = state.messages.get(envelope.message_id)
    if message is None:
        return False
    if envelope.recipient == state.mediator:  # a submission, until the mediator forwards it
        return not message.deliveries
    record = message.deliveries.get(envelope.recipient)
    return record is not None and record.pending
