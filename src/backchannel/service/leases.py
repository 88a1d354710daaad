"""The leases a party holds, so a reconnecting stream can be sent them again.

:func:`held_after` reads the party's leases from the shared delivery state
(:class:`~backchannel.store.delivery_state.DeliveryState`, ADR-0059), not from
one node's memory: a Server-Sent Events stream that reconnects with
``Last-Event-ID: n``, to this node or another, is first sent the deliveries
leased to its party, unsettled and unexpired, above log index ``n`` (the client
may have missed them). What that yields stays within the party's credit: the
settled and the expired are left out.

This module does not lease anything itself (the delivery service's queues do).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from backchannel.broker import Delivery, DeliveryPolicy
from backchannel.domain import TrackState
from backchannel.service._routing import envelope
from backchannel.store.delivery_state import LeaseRecord

__all__ = ["held_after"]


def held_after(  # noqa: PLR0913 - the party's leases, and where they stand
    state: TrackState,
    party: str,
    records: Iterable[LeaseRecord],
    *,
    after: int,
    now: datetime,
    policy: DeliveryPolicy,
) -> list[Delivery]:
    """The deliveries ``records`` lease to ``party``, pending and unexpired, above ``after``, in log order."""
    held: list[Delivery] = []
    for record in records:
        if record.visible_at <= now:
            continue  # expired: redelivered by the tick and handed out again by the next lease
        index = _pending_index(state, party, record.message_id)
        if index is None or index <= after:
            continue
        found = envelope(state.track, state.message(record.message_id), party, index)
        leased_at = record.visible_at - policy.visibility_timeout
        held.append(
            Delivery(found, attempt=record.attempts, leased_at=leased_at, visible_at=record.visible_at)
        )
    return sorted(held, key=lambda d: d.envelope.log_index)


def _pending_index(state: TrackState, party: str, message_id: str) -> int | None:
    """The log index that queued ``message_id`` for ``party``, if it is still pending."""
    message = state.messages.get(message_id)
    if message is None:
        return None
    if party == state.mediator:  # a submission, until the mediator forwards it
        return None if message.deliveries else state.log_index(message.sequence)
    record = message.deliveries.get(party)
    return record.log_index if record is not None and record.pending else None
