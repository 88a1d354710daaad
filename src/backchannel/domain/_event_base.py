"""The common part of every event: :class:`Recorded`, whose JSON form is derived from its fields.

Every event class is a frozen dataclass that subclasses :class:`Recorded`,
names its ``type`` and declares each field's constraint beside the field
(``party: PartyId``, ``title: Annotated[str, Text(200)]``); ``to_dict`` and
``from_dict`` follow the fields through :data:`backchannel.domain.codec.LOG`
(see :mod:`backchannel.domain.events` for the encodings). A class whose JSON
form is not its fields (``obligation.defined``) overrides both. A decoded
event may check what spans fields in :meth:`Recorded.check_decoded`.

This module does not define any event type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import ClassVar, Self, TypeAlias

from backchannel.domain.codec import LOG, LOG_STYLE, At, Reader, build
from backchannel.domain.ids import IdempotencyKey, MemberId
from backchannel.domain.values import JSONValue
from backchannel.errors import DomainError, EncodingError

__all__ = ["Decoding", "Event", "Recorded", "open_event"]


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


def open_event(value: JSONValue, event_type: str, fields: frozenset[str]) -> tuple[Reader, dict[str, object]]:
    """Start decoding an event of ``event_type`` with ``fields`` besides the common ones.

    Returns:
        The strict reader of the object, and the common fields' values.
    """
    schema = LOG.schema(Recorded)
    reader = _reader(value, event_type, schema.names | fields | {"type"})
    return reader, schema.read(reader)


def _reader(value: JSONValue, event_type: str, fields: frozenset[str]) -> Reader:
    reader = Reader(value, fields, _at(event_type))
    if reader.raw("type") != event_type:
        raise EncodingError(f"{event_type}.type: expected {event_type!r}, got {reader.raw('type')!r:.80}")
    return reader


_PATHS: dict[str, At] = {}
_FIELDS: dict[type, frozenset[str]] = {}


def _at(event_type: str) -> At:
    """The path of an event's object (kept, so the paths of its fields are made once)."""
    at = _PATHS.get(event_type)
    if at is None:
        at = _PATHS[event_type] = At(event_type, LOG_STYLE)
    return at


@dataclass(frozen=True, slots=True, kw_only=True)
class Recorded:
    """The fields every event carries (see :mod:`backchannel.domain.events`)."""

    type: ClassVar[str]
    by: MemberId
    at: datetime
    command_digest: bytes
    idempotency_key: IdempotencyKey | None = None

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form: ``type`` and every field, each in its codec's form."""
        return {"type": self.type, **LOG.schema(type(self)).to_dict(self)}

    @classmethod
    def from_dict(cls, value: JSONValue) -> Self:
        """Decode strictly: exactly ``type`` and the fields, each read by its codec.

        Raises:
            EncodingError: naming the bad field (a domain error raised while
                decoding is re-raised as one, prefixed with the event type).
        """
        schema = LOG.schema(cls)
        fields = _FIELDS.get(cls)
        if fields is None:
            fields = _FIELDS[cls] = schema.names | {"type"}
        with Decoding(cls.type):
            values = schema.read(_reader(value, cls.type, fields))
            cls.check_decoded(values)
            return build(cls, values)

    @classmethod
    def check_decoded(cls, values: Mapping[str, object]) -> None:
        """Check what spans fields of a decoded event (nothing by default).

        Raises:
            EncodingError: naming the field.
        """


Event: TypeAlias = Recorded
"""Any track event: every event class subclasses :class:`Recorded` and is registered by its feature."""
