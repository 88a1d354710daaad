"""One codec layer: JSON forms derived from dataclass fields, read by one strict reader.

- :class:`Codec` turns one value into JSON and back; the field codecs here
  (:class:`Text`, :class:`Checked`, :class:`Integer`, :class:`Number`,
  :class:`Hex32`, :class:`LowerHex`, :class:`Time`, :class:`Choice`,
  :class:`Items`, :class:`Optional`, :class:`Body`, :class:`Using`) carry the
  rule they check, so a field declares its constraint beside itself:
  ``title: Annotated[str, Text(200)]``, ``by: Annotated[str, Checked(check_member_id)]``.
- :class:`Format` maps a type to its default codec (``bytes`` to 64 hex
  digits, ``datetime`` to ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, an enum to its
  values, ``X | None``, ``tuple[X, ...]``...); a type module registers its own
  (:class:`~backchannel.domain.keys.NewKey`, agendas, deals, escrow terms) once
  with :meth:`Format.register`. :data:`LOG` is the form of track events; the
  wire derives its own format from it (:mod:`backchannel.wire`).
- :class:`Schema` is a dataclass's JSON form in one format: ``to_dict`` and
  ``from_dict`` follow ``dataclasses.fields`` and ``typing.get_type_hints``.
- :class:`Reader` is the one strict reader of a closed JSON object: unknown and
  missing fields are refused, and every error is an
  :class:`~backchannel.errors.EncodingError` naming the field's path
  (``body.to_parties.2``, ``track.opened.principal_key.x25519``).

A :class:`Style` keeps the wording of each format's errors as it was before
this layer existed (tests and clients match them): the log shows the bad
value (``got 'x'``), the wire names its JSON type (``got an integer``).

This module does not produce canonical bytes (``backchannel.log.canonical``
does) and knows no event or command.
"""

from __future__ import annotations

import math
import re
import types
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Generic, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = [
    "LOG",
    "LOG_STYLE",
    "At",
    "Body",
    "Checked",
    "Choice",
    "Codec",
    "Format",
    "Hex32",
    "Integer",
    "Items",
    "LowerHex",
    "Nested",
    "Number",
    "Optional",
    "Reader",
    "Schema",
    "Style",
    "Text",
    "Time",
    "Using",
    "build",
    "freeze",
    "json_type",
    "thaw",
    "time_text",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
E = TypeVar("E", bound=StrEnum)

_MAX_DEPTH = 64
_HEX32 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_JSON_TYPES: tuple[tuple[type[object], str], ...] = (
    (bool, "a boolean"),  # before int: a bool is an int
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (Mapping, "an object"),
)


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type (``an integer``, ``null``...), for error messages."""
    if value is None:
        return "null"
    return next((name for kind, name in _JSON_TYPES if isinstance(value, kind)), "an array")


# --------------------------------------------------------------------------------------------------
# Paths, styles and the reader
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Style:
    """How a format words its errors.

    Attributes:
        array: What an array is called (``a list`` in the log, ``an array`` on the wire).
        show: How a bad value is shown after ``got``.
        show_object: How a value that should be an object is shown after ``got``.
        paths: True to name unknown and missing fields by their paths
            (``body.x, body.y``); False for a list of their names (``['x', 'y']``).
    """

    array: str
    show: Callable[[object], str]
    show_object: Callable[[object], str]
    paths: bool

    def closed(self, label: str, what: str, at: At, names: Collection[str]) -> str:
        """The error for ``what`` (``unknown`` or ``missing``) fields of a closed object."""
        if not self.paths:
            return f"{label}: {what} field(s) {sorted(names)}"
        listed = ", ".join(str(at / name) for name in sorted(names))
        return f"{label}: {what} field(s) {listed}" + (" (the object is closed)" if what == "unknown" else "")


LOG_STYLE = Style("a list", lambda value: f"{value!r:.80}", lambda value: type(value).__name__, paths=False)
"""The wording of the log's (events') errors."""


@dataclass(frozen=True, slots=True)
class At:
    """Where a value sits: its dotted path and the style its errors are worded in."""

    path: str
    style: Style

    def __truediv__(self, name: str | int) -> At:
        """The path of field or item ``name`` below this one."""
        return At(f"{self.path}.{name}" if self.path else str(name), self.style)

    def __str__(self) -> str:
        """The dotted path."""
        return self.path

    def fail(self, expected: str, value: object, shown: str | None = None) -> EncodingError:
        """``<path>: expected <expected>, got <value as the style shows it>``."""
        got = self.style.show(value) if shown is None else shown
        return EncodingError(f"{self.path}: expected {expected}, got {got}")

    def object(self, value: JSONValue, label: str = "") -> Mapping[str, JSONValue]:
        """``value`` if it is a JSON object; else an error naming ``label`` (default the path)."""
        if not isinstance(value, Mapping):
            got = self.style.show_object(value)
            raise EncodingError(f"{label or self.path}: expected a JSON object, got {got}")
        return value


class Reader:
    """The strict reader of one closed JSON object: exactly ``fields``, each read with a codec.

    Args:
        raw: The value to read; must be an object.
        fields: Its exact field names.
        at: Its path (``payload``, ``body``, ``track.opened``), or ``""`` at the top.
        label: How to call the object in errors when its path is empty.

    Raises:
        EncodingError: not an object, or unknown or missing fields (each named).
    """

    def __init__(self, raw: JSONValue, fields: Collection[str], at: At, label: str = "") -> None:
        """Check the object's shape (see the class docstring)."""
        label = at.path or label
        self._raw = at.object(raw, label)
        self._at = at
        if unknown := set(self._raw) - set(fields):
            raise EncodingError(at.style.closed(label, "unknown", at, unknown))
        if missing := set(fields) - set(self._raw):
            raise EncodingError(at.style.closed(label, "missing", at, missing))

    def at(self, name: str) -> At:
        """Where field ``name`` sits."""
        return self._at / name

    def raw(self, name: str) -> JSONValue:
        """The field's value, unchecked."""
        return self._raw[name]

    def read(self, name: str, codec: Codec[T]) -> T:
        """The field's value decoded by ``codec``."""
        return codec.decode(self._raw[name], self._at / name)


# --------------------------------------------------------------------------------------------------
# Field codecs
# --------------------------------------------------------------------------------------------------


class Codec(ABC, Generic[T_co]):
    """How one value is written as JSON (:meth:`encode`) and read back strictly (:meth:`decode`)."""

    @abstractmethod
    def decode(self, raw: JSONValue, at: At) -> T_co:
        """The value ``raw`` holds. Raises: EncodingError: naming ``at``."""

    @abstractmethod
    def encode(self, value: object) -> JSONValue:
        """The JSON form of ``value``."""


class _Plain(Codec[T_co]):
    """A value that is its own JSON form (text, numbers)."""

    def encode(self, value: object) -> JSONValue:
        """``value`` itself."""
        return cast("JSONValue", value)


@dataclass(frozen=True, slots=True)
class Text(_Plain[str]):
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
class Checked(_Plain[str]):
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
class Integer(_Plain[int]):
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
class Number(_Plain[float]):
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
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


@dataclass(frozen=True, slots=True)
class Nested(Codec[T_co]):
    """A dataclass as a closed JSON object of its fields (its :class:`Schema` in one format)."""

    schema: Schema
    kind: type[T_co]

    def decode(self, raw: JSONValue, at: At) -> T_co:
        """The dataclass. Raises: EncodingError: not an object, or a bad field (named)."""
        return build(self.kind, self.schema.read(self.schema.reader(raw, at)))

    def encode(self, value: object) -> JSONValue:
        """The object of its fields."""
        return self.schema.to_dict(value)


# --------------------------------------------------------------------------------------------------
# Formats and schemas
# --------------------------------------------------------------------------------------------------


class Format:
    """The default codec of each type in one JSON form, and the schemas derived from them.

    Args:
        style: How errors are worded.
        codecs: The default codec of each type (a type or a type hint such as
            ``tuple[ReceiptItem, ...]``).
        choice: The codec of an enum type.
        parent: Where types not registered here are looked up.
    """

    def __init__(
        self,
        style: Style,
        codecs: Mapping[object, Codec[object]],
        choice: Callable[[type[StrEnum]], Codec[object]] = Choice,
        parent: Format | None = None,
    ) -> None:
        """Start a format (see the class docstring)."""
        self.style = style
        self._codecs: dict[object, Codec[object]] = dict(codecs)
        self._choice = choice
        self._parent = parent
        self._schemas: dict[type, Schema] = {}

    def register(self, hint: object, codec: Codec[object]) -> None:
        """Make ``codec`` the default codec of ``hint`` in this format (and formats derived from it)."""
        self._codecs[hint] = codec

    def derive(
        self,
        style: Style,
        codecs: Mapping[object, Codec[object]],
        choice: Callable[[type[StrEnum]], Codec[object]],
    ) -> Format:
        """A format that overrides ``codecs`` and otherwise reads types as this one does."""
        return Format(style, codecs, choice, parent=self)

    def _registered(self, hint: object) -> Codec[object] | None:
        found = self._codecs.get(hint)
        if found is None and self._parent is not None:
            return self._parent._registered(hint)  # noqa: SLF001 - the same class
        return found

    def codec(self, hint: object) -> Codec[object]:  # noqa: PLR0911 - one return per kind of hint
        """The codec of a field annotated ``hint``.

        ``Annotated[T, codec]`` uses the codec declared beside the field;
        ``T | None`` and ``tuple[T, ...]`` are built from ``T``'s codec.

        Raises:
            TypeError: no codec for the type (a bug in a declaration).
        """
        registered = self._registered(hint)
        if registered is not None:
            return registered
        origin, args = get_origin(hint), get_args(hint)
        if origin is Annotated:
            declared = [meta for meta in args[1:] if isinstance(meta, Codec)]
            return declared[0] if declared else self.codec(args[0])
        if origin in (Union, types.UnionType) and type(None) in args:
            (inner,) = [arg for arg in args if arg is not type(None)]
            return Optional(self.codec(inner))
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            return Items(self.codec(args[0]))
        if origin is not None:
            return self.codec(origin)
        if isinstance(hint, type) and issubclass(hint, StrEnum):
            return self._choice(hint)
        if isinstance(hint, type) and is_dataclass(hint):
            return Nested(self.schema(hint), hint)
        raise TypeError(f"no codec for {hint!r}")

    def schema(self, kind: type) -> Schema:
        """The JSON form of dataclass ``kind`` in this format (built once)."""
        schema = self._schemas.get(kind)
        if schema is None:
            schema = self._schemas[kind] = Schema(kind, self)
        return schema


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    codec: Codec[object]


class Schema:
    """A dataclass's JSON form in one format: one field per dataclass field, in declaration order.

    Args:
        kind: The dataclass.
        form: The format that gives each field's codec.
        skip: Field names that are not part of the JSON form (nor are fields
            derived in ``__post_init__``, declared with ``init=False``).
    """

    def __init__(self, kind: type, form: Format, skip: Collection[str] = ()) -> None:
        """Derive the fields (see the class docstring)."""
        if not is_dataclass(kind):
            raise TypeError(f"{kind.__name__} is not a dataclass")
        hints = get_type_hints(kind, include_extras=True)
        self.kind = kind
        self.fields = tuple(
            _Field(f.name, form.codec(hints[f.name])) for f in fields(kind) if f.init and f.name not in skip
        )
        self.names = frozenset(f.name for f in self.fields)
        self.style = form.style

    def to_dict(self, value: object) -> dict[str, JSONValue]:
        """The JSON form of ``value``'s fields."""
        return {f.name: f.codec.encode(getattr(value, f.name)) for f in self.fields}

    def read(self, reader: Reader) -> dict[str, object]:
        """Every field's value from ``reader`` (whose object holds at least these fields)."""
        return {f.name: reader.read(f.name, f.codec) for f in self.fields}

    def reader(self, raw: JSONValue, at: At, extra: Collection[str] = (), label: str = "") -> Reader:
        """A strict reader of an object holding exactly these fields and ``extra``."""
        return Reader(raw, self.names | frozenset(extra), at, label)


def build(kind: type[T], values: Mapping[str, object]) -> T:
    """``kind(**values)``: construct a dataclass from the values a schema read."""
    return kind(**values)


LOG = Format(
    LOG_STYLE,
    {
        str: Text(2_000),
        int: Integer(0),
        float: Number(),
        bytes: Hex32(),
        datetime: Time(),
        Mapping: Body(),
    },
)
"""The form of track events (and the objects they carry): see the module docstring."""
