"""The field codecs of the codec layer (private): text, ids, numbers, digests, instants, enums, arrays.

See :mod:`backchannel.domain.codec`, which re-exports everything here. Each
codec carries the rule it checks, so a field declares its constraint beside
itself (``Annotated[str, Text(200)]``). This module holds no format.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar, cast

from backchannel.domain._codec_base import At, Codec, Plain
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = [
    "Body",
    "Checked",
    "Choice",
    "Hex32",
    "Integer",
    "Items",
    "LowerHex",
    "Number",
    "Optional",
    "Text",
    "Time",
    "Using",
    "freeze",
    "thaw",
    "time_text",
]

T_co = TypeVar("T_co", covariant=True)
E = TypeVar("E", bound=StrEnum)

_MAX_DEPTH = 64
_HEX32 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


@dataclass(frozen=True, slots=True)
class Text(Plain[str]):
    """A string; with ``max_length``, one of 1 to ``max_length`` characters."""

    max_length: int | None = None

    def decode(self, raw: JSONValue, at: At) -> str:
        """The string. Raises: EncodingError: not text (of that length)."""
        if self.max_length is None:
            if not isinstance(raw, str):
                raise at.fail("a string", raw)
        elif not isinstance(raw, str) or not 0 < len(raw) <= self.max_length:
            raise at.fail(f"text of 1 to {self.max_length} characters", raw)
        return raw


@dataclass(frozen=True, slots=True)
class Checked(Plain[str]):
    """A string that ``check`` (one of :mod:`backchannel.domain.ids`' ``check_*``) accepts.

    With ``text``, the value is first read as that codec reads it (the wire
    names a wrong JSON type before the check speaks).
    """

    check: Callable[[object, str], list[Violation]]
    text: Text | None = None

    def decode(self, raw: JSONValue, at: At) -> str:
        """The string. Raises: EncodingError: the check's first violation."""
        if self.text is not None:
            self.text.decode(raw, at)
        violations = self.check(raw, at.path)
        if violations:
            raise EncodingError(violations[0].message)
        return cast("str", raw)


@dataclass(frozen=True, slots=True)
class Integer(Plain[int]):
    """An integer, not a boolean; with ``minimum``, at least that."""

    minimum: int | None = None

    def decode(self, raw: JSONValue, at: At) -> int:
        """The integer. Raises: EncodingError: not an integer (in range)."""
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise at.fail(self._expected, raw)
        if self.minimum is not None and raw < self.minimum:
            raise at.fail(self._expected, raw)
        return raw

    @property
    def _expected(self) -> str:
        return "an integer" if self.minimum is None else f"an integer >= {self.minimum}"


@dataclass(frozen=True, slots=True)
class Number(Plain[float]):
    """A JSON number, not a boolean (finiteness and range are the domain's to check)."""

    def decode(self, raw: JSONValue, at: At) -> float:
        """The number. Raises: EncodingError: not a number."""
        if not isinstance(raw, (int, float)) or isinstance(raw, bool):
            raise at.fail("a number", raw)
        return raw


@dataclass(frozen=True, slots=True)
class Hex32(Codec[bytes]):
    """32 bytes as 64 lowercase hex digits (a bad string is shown as it is, whatever the style)."""

    def decode(self, raw: JSONValue, at: At) -> bytes:
        """The bytes. Raises: EncodingError: not 64 lowercase hex digits."""
        if not isinstance(raw, str) or not _HEX32.fullmatch(raw):
            shown = f"{raw!r:.80}" if isinstance(raw, str) else None
            raise at.fail("64 lowercase hex digits", raw, shown)
        return bytes.fromhex(raw)

    def encode(self, value: object) -> JSONValue:
        """Lowercase hex."""
        return cast("bytes", value).hex()


@dataclass(frozen=True, slots=True)
class LowerHex(Codec[bytes]):
    """Bytes as lowercase hex, their count in ``pattern`` (``(?:[0-9a-f]{2})*`` for any)."""

    pattern: re.Pattern[str]
    expected: str = "bytes as lowercase hex"

    def decode(self, raw: JSONValue, at: At) -> bytes:
        """The bytes. Raises: EncodingError: not lowercase hex of the right size."""
        if not isinstance(raw, str) or not self.pattern.fullmatch(raw):
            raise EncodingError(f"{at}: expected {self.expected}")
        return bytes.fromhex(raw)

    def encode(self, value: object) -> JSONValue:
        """Lowercase hex."""
        return cast("bytes", value).hex()


def time_text(moment: datetime) -> str:
    """An aware instant as UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # isoformat pads the year to 4 digits, strftime may not
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # strftime's text, 5x faster


@dataclass(frozen=True, slots=True)
class Time(Codec[datetime]):
    """An instant as UTC text ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the log's wording)."""

    def decode(self, raw: JSONValue, at: At) -> datetime:
        """The instant. Raises: EncodingError: another form, or an impossible date."""
        if not isinstance(raw, str) or not _TIME.fullmatch(raw):
            raise at.fail("a UTC time like 2026-01-31T12:00:00.000000Z", raw)
        try:
            return datetime.fromisoformat(raw)
        except ValueError as e:
            raise at.fail("a valid date and time", raw) from e

    def encode(self, value: object) -> JSONValue:
        """UTC text."""
        return time_text(cast("datetime", value))


@dataclass(frozen=True, slots=True)
class Choice(Codec[E]):
    """One of the values of the enum ``kind``.

    ``strict=False`` passes any other string on as it is, for a command to
    refuse with a field-level ``one_of`` violation (the wire's way).
    """

    kind: type[E]
    strict: bool = True

    def decode(self, raw: JSONValue, at: At) -> E:
        """The enum member. Raises: EncodingError: not one of its values (strict) or not a string."""
        values = [member.value for member in self.kind]
        if raw in values:
            return self.kind(raw)
        if self.strict:
            raise at.fail(f"one of {', '.join(values)}", raw)
        return cast("E", Text().decode(raw, at))

    def encode(self, value: object) -> JSONValue:
        """The enum value."""
        return cast("StrEnum", value).value


@dataclass(frozen=True, slots=True)
class Items(Codec[tuple[T_co, ...]]):
    """A JSON array of ``item`` values, as a tuple.

    A bad item is named by its index, or, with ``whole``, the array is refused
    as not ``whole`` (``a list of 64-hex-digit values``).
    """

    item: Codec[T_co]
    whole: str | None = None

    def decode(self, raw: JSONValue, at: At) -> tuple[T_co, ...]:
        """The tuple. Raises: EncodingError: not an array, or a bad item."""
        if not isinstance(raw, Sequence) or isinstance(raw, str):
            raise at.fail(at.style.array, raw)
        try:
            return tuple(self.item.decode(value, at / index) for index, value in enumerate(raw))
        except EncodingError as e:
            if self.whole is None:
                raise
            raise at.fail(self.whole, raw) from e

    def encode(self, value: object) -> JSONValue:
        """A list."""
        return [self.item.encode(item) for item in cast("tuple[object, ...]", value)]


@dataclass(frozen=True, slots=True)
class Optional(Codec[T_co | None]):
    """``None`` as JSON null, anything else as ``inner``."""

    inner: Codec[T_co]

    def decode(self, raw: JSONValue, at: At) -> T_co | None:
        """``None`` or the inner value."""
        return None if raw is None else self.inner.decode(raw, at)

    def encode(self, value: object) -> JSONValue:
        """Null or the inner form."""
        return None if value is None else self.inner.encode(value)


def freeze(value: JSONValue, field: str, depth: int = 0) -> JSONValue:
    """Check a JSON value and return an immutable copy of it (tuples and read-only mappings).

    Raises:
        SchemaViolationError: a non-JSON type, a non-text key, a non-finite
            number, or nesting deeper than 64 levels; the violation names the path.
    """
    if depth > _MAX_DEPTH:
        raise SchemaViolationError([Violation(field, "depth", f"{field}: nested deeper than {_MAX_DEPTH}")])
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SchemaViolationError([Violation(field, "type", f"{field}: {value} is not a JSON number")])
        return value
    if isinstance(value, Mapping):
        out: dict[str, JSONValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SchemaViolationError([Violation(field, "type", f"{field}: object keys must be text")])
            out[key] = freeze(item, f"{field}.{key}", depth + 1)
        return MappingProxyType(out)
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item, f"{field}.{i}", depth + 1) for i, item in enumerate(value))
    raise SchemaViolationError([Violation(field, "type", f"{field}: {type(value).__name__} is not JSON")])


def thaw(value: JSONValue) -> JSONValue:
    """A (possibly frozen) JSON value as plain lists and dicts."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class Body(Codec[Mapping[str, JSONValue]]):
    """A JSON object (a message body); ``frozen`` checks and freezes it (the log's way)."""

    frozen: bool = True

    def decode(self, raw: JSONValue, at: At) -> Mapping[str, JSONValue]:
        """The object. Raises: EncodingError: not an object, or (frozen) not JSON."""
        if not self.frozen:
            return at.object(raw)
        try:
            raw = freeze(raw, at.path)
        except SchemaViolationError as e:
            raise EncodingError(str(e)) from e
        if not isinstance(raw, Mapping):
            raise at.fail("a JSON object", raw)
        return raw

    def encode(self, value: object) -> JSONValue:
        """Plain dicts and lists."""
        return thaw(cast("JSONValue", value))


@dataclass(frozen=True, slots=True)
class Using(Codec[T_co]):
    """A codec from two functions: ``decode(raw, path)`` and ``encode(value)`` (a type's own form)."""

    decoder: Callable[[JSONValue, str], T_co]
    encoder: Callable[[T_co], JSONValue]
    object_only: bool = False

    def decode(self, raw: JSONValue, at: At) -> T_co:
        """``decoder(raw, path)``, after checking that ``raw`` is an object if ``object_only``."""
        if self.object_only:
            at.object(raw)
        return self.decoder(raw, at.path)

    def encode(self, value: object) -> JSONValue:
        """``encoder(value)``."""
        return self.encoder(cast("T_co", value))
