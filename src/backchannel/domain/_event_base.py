"""The common part of every event: the base class and the JSON helpers (private).

See :mod:`backchannel.domain.events` for the encodings. This module does not
define any event type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import ClassVar, Self, TypeAlias, TypedDict

from backchannel.domain._json import Reader
from backchannel.domain.ids import check_idempotency_key, check_key_id, check_member_id
from backchannel.domain.keys import NewKey, time_text
from backchannel.domain.values import JSONValue
from backchannel.errors import DomainError, EncodingError

__all__ = [
    "Common",
    "Decoding",
    "Event",
    "Recorded",
    "body_object",
    "key_from_dict",
    "key_to_dict",
    "open_event",
]

_COMMON = frozenset({"type", "by", "at", "command_digest", "idempotency_key"})
_KEY_FIELDS = frozenset({"key_id", "ed25519", "x25519", "expires_at"})


class Common(TypedDict):
    """The fields every event takes from its command (keyword arguments of every event class)."""

    by: str
    at: datetime
    command_digest: bytes
    idempotency_key: str | None


class Decoding:
    """Turn any domain error raised while decoding into an EncodingError naming the event type."""

    def __init__(self, event_type: str) -> None:
        self._type = event_type

    def __enter__(self) -> None:
        """Start decoding."""

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """Re-raise a DomainError as an EncodingError (cause chained)."""
        if isinstance(error, DomainError):
            raise EncodingError(f"{self._type}: {error}") from error


def open_event(value: JSONValue, event_type: str, fields: frozenset[str]) -> tuple[Reader, Common]:
    """Start decoding an event of ``event_type`` with ``fields`` (besides the common ones)."""
    reader = Reader(value, _COMMON | fields, event_type)
    if reader.raw("type") != event_type:
        raise EncodingError(f"{event_type}.type: expected {event_type!r}, got {reader.raw('type')!r:.80}")
    common = Common(
        by=reader.checked("by", check_member_id),
        at=reader.time("at"),
        command_digest=reader.hex32("command_digest"),
        idempotency_key=reader.optional_checked("idempotency_key", check_idempotency_key),
    )
    return reader, common


def key_to_dict(key: NewKey) -> dict[str, JSONValue]:
    """The JSON form of a granted key."""
    return {
        "key_id": key.key_id,
        "ed25519": key.ed25519.hex(),
        "x25519": key.x25519.hex(),
        "expires_at": None if key.expires_at is None else time_text(key.expires_at),
    }


def key_from_dict(value: JSONValue, where: str) -> NewKey:
    """Decode a granted key strictly (its id must match its Ed25519 key)."""
    reader = Reader(value, _KEY_FIELDS, where)
    return NewKey(
        reader.checked("key_id", check_key_id),
        reader.hex32("ed25519"),
        reader.hex32("x25519"),
        reader.optional_time("expires_at"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """The fields every event carries (see :mod:`backchannel.domain.events`)."""

    type: ClassVar[str]
    by: str
    at: datetime
    command_digest: bytes
    idempotency_key: str | None = None

    def common_dict(self) -> dict[str, JSONValue]:
        """The JSON form of the common fields (with ``type``)."""
        return {
            "type": self.type,
            "by": self.by,
            "at": time_text(self.at),
            "command_digest": self.command_digest.hex(),
            "idempotency_key": self.idempotency_key,
        }

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form; every registered event type defines it.

        Raises:
            NotImplementedError: ``Recorded`` itself has no JSON form.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no JSON form")

    @classmethod
    def from_dict(cls, value: JSONValue) -> Self:
        """Decode strictly; every registered event type defines it.

        Raises:
            NotImplementedError: ``Recorded`` itself has no JSON form.
        """
        raise NotImplementedError(f"{cls.__name__} defines no JSON form ({value!r:.20})")


Event: TypeAlias = Recorded
"""Any track event: every event class subclasses :class:`Recorded` and is registered by its feature."""


def body_object(reader: Reader) -> Mapping[str, JSONValue]:
    """Read a message body: a frozen JSON object."""
    body = reader.json("body")
    if not isinstance(body, Mapping):
        raise EncodingError("body: expected a JSON object")
    return body
