"""Message events: submitted, forwarded, reframed, receipts, dead letters and escalations.

Re-exported by :mod:`backchannel.domain.events`, which describes the JSON
encodings. This module does not decide or apply anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, ClassVar, TypeAlias

from backchannel.domain._event_base import Recorded
from backchannel.domain.codec import Hex32, Integer, Items, Text, freeze
from backchannel.domain.ids import (
    MemberId,
    MessageId,
    MessageKind,
    PartyId,
    Priority,
    message_id_of,
    party_of,
)
from backchannel.domain.receipts import CHECKED_RECEIPT_ITEMS, ReceiptItem
from backchannel.domain.values import JSONValue

__all__ = [
    "MessageDeadLettered",
    "MessageEscalated",
    "MessageForwarded",
    "MessageReframed",
    "MessageSubmitted",
    "NewMessage",
    "ReceiptRecorded",
]

_ANNEXES = Items(Hex32(), whole="a list of 64-hex-digit values")
Annexes: TypeAlias = Annotated[tuple[bytes, ...], _ANNEXES]
"""The annexes' digests of a message (the log refuses the whole list for one bad digest)."""
AgendaVersion: TypeAlias = Annotated[int, Integer(1)]
"""An agenda version (1 or more)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage(Recorded):
    """The common part of the events that create a message (submitted, reframed): its content.

    The message's id is the hex of its creating command's digest
    (:attr:`message_id`); its body is frozen on construction.
    """

    kind: MessageKind
    priority: Priority
    body: Mapping[str, JSONValue]
    annexes: Annexes
    agenda_version: AgendaVersion | None

    def __post_init__(self) -> None:
        """Freeze the body."""
        object.__setattr__(self, "body", freeze(self.body, "body"))

    @property
    def message_id(self) -> str:
        """The message's id: the hex of its command digest."""
        return message_id_of(self.command_digest)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSubmitted(NewMessage):
    """A member of a delegation sent a message to the mediator."""

    type: ClassVar[str] = "message.submitted"
    in_reply_to: MessageId | None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageForwarded(Recorded):
    """Message ``message_id`` was delivered verbatim to ``to_parties``."""

    type: ClassVar[str] = "message.forwarded"
    message_id: MessageId
    to_parties: tuple[PartyId, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReframed(NewMessage):
    """The mediator delivered new text (a new message) for message ``reframes`` to ``to_parties``.

    The new message keeps the original's kind and priority; it cites the
    original by id (the original's command digest), never its content.
    """

    type: ClassVar[str] = "message.reframed"
    reframes: MessageId
    to_parties: tuple[PartyId, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptRecorded(Recorded):
    """Member ``by`` signed a receipt for the messages in ``items``, settling their delivery to its party.

    Each item names a message and the log index of the entry that delivered it
    to the party (see :mod:`~backchannel.domain.receipts`); ``items`` are in
    the order the command gave them.
    """

    type: ClassVar[str] = "receipt.recorded"
    items: Annotated[tuple[ReceiptItem, ...], CHECKED_RECEIPT_ITEMS]
    receipt_digest: bytes

    @property
    def party(self) -> str:
        """The recipient party (the signer's)."""
        return party_of(self.by)

    @property
    def message_ids(self) -> tuple[str, ...]:
        """The messages the receipt covers, in the order of ``items``."""
        return tuple(item.message_id for item in self.items)


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeadLettered(Recorded):
    """Delivery of ``message_id`` to ``party`` gave up after ``attempts`` (the broker's decision)."""

    type: ClassVar[str] = "message.dead_lettered"
    message_id: MessageId
    party: PartyId
    attempts: Annotated[int, Integer(1)]
    reason: Annotated[str, Text(500)]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEscalated(Recorded):
    """Unacknowledged ``message_id`` for ``party`` escalated to ``level``, alerting every member in ``to``."""

    type: ClassVar[str] = "message.escalated"
    message_id: MessageId
    party: PartyId
    level: Annotated[int, Integer(1)]
    to: tuple[MemberId, ...]
