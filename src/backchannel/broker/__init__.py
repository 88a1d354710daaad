"""The delivery broker: pure queues, policies and presence, driven by ``now``.

General layout:

- :mod:`~backchannel.broker.messages`: :class:`Priority`, :class:`Envelope`,
  :class:`Delivery` and the outcomes :meth:`RecipientQueue.tick` reports
  (:class:`Redelivered`, :class:`DeadLettered`, :class:`Escalated`);
- :mod:`~backchannel.broker.policy`: :class:`DeliveryPolicy` and :class:`Backoff`
  (validated, fail closed);
- :mod:`~backchannel.broker.queues`: :class:`RecipientQueue`, one per
  (track, recipient), with :class:`QueueStatistics`;
- :mod:`~backchannel.broker.presence`: :class:`Presence`, heartbeats per party;
- :mod:`~backchannel.broker.errors`: :class:`DeliveryError` and its subclasses.

Nothing here does I/O, reads a clock, sleeps or draws random numbers; the
service persists what the broker reports and rebuilds it from the log.
"""

from __future__ import annotations

from backchannel.broker.errors import DeliveryError, UnknownDeliveryError, WouldBlock
from backchannel.broker.messages import (
    DeadLettered,
    Delivery,
    Envelope,
    Escalated,
    Outcome,
    Priority,
    Redelivered,
)
from backchannel.broker.policy import ESCALATION_TARGETS, Backoff, DeliveryPolicy
from backchannel.broker.presence import PartyPresence, Presence, PresenceStatus
from backchannel.broker.queues import MessageState, QueueStatistics, RecipientQueue

__all__ = [
    "ESCALATION_TARGETS",
    "Backoff",
    "DeadLettered",
    "Delivery",
    "DeliveryError",
    "DeliveryPolicy",
    "Envelope",
    "Escalated",
    "MessageState",
    "Outcome",
    "PartyPresence",
    "Presence",
    "PresenceStatus",
    "Priority",
    "QueueStatistics",
    "RecipientQueue",
    "Redelivered",
    "UnknownDeliveryError",
    "WouldBlock",
]
