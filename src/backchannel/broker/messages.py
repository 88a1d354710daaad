"""What the broker moves and what it reports: envelopes, deliveries and outcomes.

Every type here is a frozen value. The module does NOT hold payloads (an
envelope names a log entry; the service fetches, decrypts and signs), does not
route, and does not decide anything: :mod:`backchannel.broker.queues` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeAlias

__all__ = [
    "DeadLettered",
    "Delivery",
    "Envelope",
    "Escalated",
    "Outcome",
    "Priority",
    "Redelivered",
]


class Priority(StrEnum):
    """How urgent a message is: ``flash`` > ``priority`` > ``routine``.

    Compare priorities by :attr:`rank`, never by their string values.
    """

    FLASH = "flash"
    PRIORITY = "priority"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """The sort rank: 0 for the most urgent (``flash``), then 1, then 2."""
        return _RANK[self]


_RANK = {Priority.FLASH: 0, Priority.PRIORITY: 1, Priority.ROUTINE: 2}


@dataclass(frozen=True, slots=True)
class Envelope:
    """The broker's view of one forwarded message: who, where, how urgent, which log entry.

    Attributes:
        message_id: The message's id, unique within its track (the idempotency key of a put).
        log_index: The index of the log entry that forwarded it (the order within a priority).
        track: The track it belongs to.
        sender: The sending party.
        recipient: The receiving party.
        priority: How urgent it is.
        size: The payload's size in bytes.

    Raises:
        ValueError: an empty id, track or party, or a negative index or size.
    """

    message_id: str
    log_index: int
    track: str
    sender: str
    recipient: str
    priority: Priority
    size: int

    def __post_init__(self) -> None:
        """Refuse envelopes that no log entry could have produced."""
        for name in ("message_id", "track", "sender", "recipient"):
            if not getattr(self, name):
                raise ValueError(f"an envelope needs a non-empty {name}")
        if self.log_index < 0 or self.size < 0:
            raise ValueError(f"log_index and size must be >= 0, got {self.log_index} and {self.size}")

    @property
    def sort_key(self) -> tuple[int, int, str]:
        """The delivery order: priority rank, then log index (then id, to break ties)."""
        return (self.priority.rank, self.log_index, self.message_id)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One lease of one message to its recipient.

    Attributes:
        envelope: The message delivered.
        attempt: 1 for the first delivery, 2 for the first redelivery, and so on.
        leased_at: When the lease was granted.
        visible_at: When the lease expires: unsettled by then, the message is redelivered.
    """

    envelope: Envelope
    attempt: int
    leased_at: datetime
    visible_at: datetime


@dataclass(frozen=True, slots=True)
class Redelivered:
    """A lease expired unsettled; the message goes back to the queue.

    Attributes:
        envelope: The message.
        attempt: The number of the next delivery attempt.
        ready_at: When it may be leased again (lease expiry plus the backoff).
    """

    envelope: Envelope
    attempt: int
    ready_at: datetime


@dataclass(frozen=True, slots=True)
class DeadLettered:
    """A message was given up on; it left the queue for good.

    The service records it in the log and tells the sender and the mediator why.

    Attributes:
        envelope: The message.
        attempts: How many deliveries were made.
        reason: Why, in words a person can act on.
    """

    envelope: Envelope
    attempts: int
    reason: str


@dataclass(frozen=True, slots=True)
class Escalated:
    """A message missed its acknowledgement deadline; people must be alerted.

    Delivery goes on: escalation adds alarms, it does not stop redelivery.

    Attributes:
        envelope: The message.
        level: The escalation level (1: the first and, so far, the only one).
        deadline: The acknowledgement deadline that passed.
        to: Whom to alert: the policy's ``escalate_to`` (e.g. ``("alternates", "mediator")``);
            the service alerts every member these name, in one log event.
    """

    envelope: Envelope
    level: int
    deadline: datetime
    to: tuple[str, ...]


Outcome: TypeAlias = Redelivered | DeadLettered | Escalated
"""What :meth:`RecipientQueue.tick` reports."""
