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
  wire derives its own format from it (:mod:`backchannel.protocol.wire`).
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

import types
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, TypeVar, Union, get_args, get_origin, get_type_hints

from backchannel.domain._codec_base import LOG_STYLE, At, Codec, Plain, Reader, Style, json_type
from backchannel.domain._field_codecs import (
    Body,
    Checked,
    Choice,
    Hex32,
    Integer,
    Items,
    LowerHex,
    Number,
    Optional,
    Text,
    Time,
    Using,
    freeze,
    thaw,
    time_text,
)
from backchannel.domain.values import JSONValue

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
        self._pairs = tuple((f.name, f.codec) for f in self.fields)
        # a value that is its own JSON form (text, numbers) is written as it is: no call per field
        self._encoders = tuple((f.name, None if isinstance(f.codec, Plain) else f.codec) for f in self.fields)

    def to_dict(self, value: object) -> dict[str, JSONValue]:
        """The JSON form of ``value``'s fields."""
        out: dict[str, JSONValue] = {}
        for name, codec in self._encoders:
            item = getattr(value, name)
            out[name] = item if codec is None else codec.encode(item)
        return out

    def read(self, reader: Reader) -> dict[str, object]:
        """Every field's value from ``reader`` (whose object holds at least these fields)."""
        return reader.read_all(self._pairs)

    def reader(self, raw: JSONValue, at: At, extra: Collection[str] = (), label: str = "") -> Reader:
        """A strict reader of an object holding exactly these fields and ``extra``."""
        return Reader(raw, self.names | frozenset(extra) if extra else self.names, at, label)


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
