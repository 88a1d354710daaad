"""Message events: submitted, forwarded, reframed, receipts, dead letters and escalations.

Re-exported by :mod:`backchannel.domain.events`, which describes the JSON
encodings. This module does not decide or apply anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from backchannel.domain._event_base import Decoding, Recorded, body_object, open_event
from backchannel.domain._json import freeze, thaw
from backchannel.domain.ids import (
    MessageKind,
    Priority,
    check_member_id,
    check_message_id,
    check_party_id,
    message_id_of,
    party_of,
)
from backchannel.domain.receipts import ReceiptItem, check_receipt_items, receipt_items_from_json
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = [
    "MessageDeadLettered",
    "MessageEscalated",
    "MessageForwarded",
    "MessageReframed",
    "MessageSubmitted",
    "ReceiptRecorded",
]

_MESSAGE_FIELDS = frozenset({"kind", "priority", "body", "in_reply_to", "annexes", "agenda_version"})


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSubmitted(Recorded):
    """A member of a delegation sent a message to the mediator."""

    type: ClassVar[str] = "message.submitted"
    _FIELDS: ClassVar[frozenset[str]] = _MESSAGE_FIELDS
    kind: MessageKind
    priority: Priority
    body: Mapping[str, JSONValue]
    in_reply_to: str | None
    annexes: tuple[bytes, ...]
    agenda_version: int | None

    def __post_init__(self) -> None:
        """Freeze the body."""
        object.__setattr__(self, "body", freeze(self.body, "body"))

    @property
    def message_id(self) -> str:
        """The message's id: the hex of its command digest."""
        return message_id_of(self.command_digest)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "kind": self.kind.value,
            "priority": self.priority.value,
            "body": thaw(self.body),
            "in_reply_to": self.in_reply_to,
            "annexes": [a.hex() for a in self.annexes],
            "agenda_version": self.agenda_version,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> MessageSubmitted:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                kind=r.kind("kind", MessageKind),
                priority=r.kind("priority", Priority),
                body=body_object(r),
                in_reply_to=r.optional_checked("in_reply_to", check_message_id),
                annexes=r.hex32_list("annexes"),
                agenda_version=r.optional_integer("agenda_version", 1),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageForwarded(Recorded):
    """Message ``message_id`` was delivered verbatim to ``to_parties``."""

    type: ClassVar[str] = "message.forwarded"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"message_id", "to_parties"})
    message_id: str
    to_parties: tuple[str, ...]

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {**self.common_dict(), "message_id": self.message_id, "to_parties": list(self.to_parties)}

    @classmethod
    def from_dict(cls, value: JSONValue) -> MessageForwarded:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                message_id=r.checked("message_id", check_message_id),
                to_parties=r.checked_list("to_parties", check_party_id),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReframed(Recorded):
    """The mediator delivered new text (a new message) for message ``reframes`` to ``to_parties``.

    The new message keeps the original's kind and priority; it cites the
    original by id (the original's command digest), never its content.
    """

    type: ClassVar[str] = "message.reframed"
    _FIELDS: ClassVar[frozenset[str]] = (_MESSAGE_FIELDS - {"in_reply_to"}) | {"reframes", "to_parties"}
    reframes: str
    to_parties: tuple[str, ...]
    kind: MessageKind
    priority: Priority
    body: Mapping[str, JSONValue]
    annexes: tuple[bytes, ...]
    agenda_version: int | None

    def __post_init__(self) -> None:
        """Freeze the body."""
        object.__setattr__(self, "body", freeze(self.body, "body"))

    @property
    def message_id(self) -> str:
        """The new message's id: the hex of its command digest."""
        return message_id_of(self.command_digest)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "reframes": self.reframes,
            "to_parties": list(self.to_parties),
            "kind": self.kind.value,
            "priority": self.priority.value,
            "body": thaw(self.body),
            "annexes": [a.hex() for a in self.annexes],
            "agenda_version": self.agenda_version,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> MessageReframed:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                reframes=r.checked("reframes", check_message_id),
                to_parties=r.checked_list("to_parties", check_party_id),
                kind=r.kind("kind", MessageKind),
                priority=r.kind("priority", Priority),
                body=body_object(r),
                annexes=r.hex32_list("annexes"),
                agenda_version=r.optional_integer("agenda_version", 1),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiptRecorded(Recorded):
    """Member ``by`` signed a receipt for the messages in ``items``, settling their delivery to its party.

    Each item names a message and the log index of the entry that delivered it
    to the party (see :mod:`~backchannel.domain.receipts`); ``items`` are in
    the order the command gave them.
    """

    type: ClassVar[str] = "receipt.recorded"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"items", "receipt_digest"})
    items: tuple[ReceiptItem, ...]
    receipt_digest: bytes

    @property
    def party(self) -> str:
        """The recipient party (the signer's)."""
        return party_of(self.by)

    @property
    def message_ids(self) -> tuple[str, ...]:
        """The messages the receipt covers, in the order of ``items``."""
        return tuple(item.message_id for item in self.items)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "items": [item.to_json() for item in self.items],
            "receipt_digest": self.receipt_digest.hex(),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> ReceiptRecorded:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            items = receipt_items_from_json(r.raw("items"), f"{cls.type}.items")
            violations = check_receipt_items(items, f"{cls.type}.items")
            if violations:
                raise EncodingError(violations[0].message)
            return cls(**common, items=items, receipt_digest=r.hex32("receipt_digest"))


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDeadLettered(Recorded):
    """Delivery of ``message_id`` to ``party`` gave up after ``attempts`` (the broker's decision)."""

    type: ClassVar[str] = "message.dead_lettered"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"message_id", "party", "attempts", "reason"})
    message_id: str
    party: str
    attempts: int
    reason: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "message_id": self.message_id,
            "party": self.party,
            "attempts": self.attempts,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> MessageDeadLettered:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                message_id=r.checked("message_id", check_message_id),
                party=r.checked("party", check_party_id),
                attempts=r.integer("attempts", 1),
                reason=r.text("reason", 500),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageEscalated(Recorded):
    """Unacknowledged ``message_id`` for ``party`` escalated to ``level``, alerting every member in ``to``."""

    type: ClassVar[str] = "message.escalated"
    _FIELDS: ClassVar[frozenset[str]] = frozenset({"message_id", "party", "level", "to"})
    message_id: str
    party: str
    level: int
    to: tuple[str, ...]

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "message_id": self.message_id,
            "party": self.party,
            "level": self.level,
            "to": list(self.to),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> MessageEscalated:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                message_id=r.checked("message_id", check_message_id),
                party=r.checked("party", check_party_id),
                level=r.integer("level", 1),
                to=r.checked_list("to", check_member_id),
            )
