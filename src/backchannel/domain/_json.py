"""JSON plumbing for commands and events: immutable bodies and a strict field reader.

- :func:`freeze` checks a JSON value and returns an immutable copy (tuples and
  read-only mappings), so a frozen command or event cannot be changed through
  its body; :func:`thaw` returns plain lists and dicts for encoding.
- :class:`Reader` decodes one JSON object field by field: unknown and missing
  fields are refused, and every error is an :class:`~backchannel.errors.EncodingError`
  naming the field.

Encodings (one form per value): bytes are lowercase hex; instants are UTC text
``YYYY-MM-DDTHH:MM:SS.ffffffZ``; kinds are their enum values.

This module does not produce canonical bytes (``backchannel.log.canonical`` does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = ["Reader", "freeze", "thaw"]

_MAX_DEPTH = 64
_HEX32 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
E = TypeVar("E", bound=StrEnum)


def freeze(value: JSONValue, field: str, depth: int = 0) -> JSONValue:
    """Check a JSON value and return an immutable copy of it.

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
    """A frozen JSON value as plain lists and dicts."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


class Reader:
    """Strict reader of one JSON object: exactly ``fields``, each read once with a typed accessor.

    Args:
        raw: The value to read; must be an object.
        fields: The object's exact field names.
        where: A name for the object in error messages (``message.forwarded``).

    Raises:
        EncodingError: not an object, or unknown or missing fields (named).
    """

    def __init__(self, raw: JSONValue, fields: frozenset[str], where: str) -> None:
        """Check the object's shape (see the class docstring)."""
        if not isinstance(raw, Mapping):
            raise EncodingError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        if unknown := set(raw) - fields:
            raise EncodingError(f"{where}: unknown field(s) {sorted(unknown)}")
        if missing := fields - set(raw):
            raise EncodingError(f"{where}: missing field(s) {sorted(missing)}")
        self._raw = raw
        self._where = where

    def _fail(self, name: str, expected: str) -> EncodingError:
        return EncodingError(f"{self._where}.{name}: expected {expected}, got {self._raw[name]!r:.80}")

    def raw(self, name: str) -> JSONValue:
        """The field's value, unchecked."""
        return self._raw[name]

    def text(self, name: str, max_length: int = 2_000) -> str:
        """A non-empty string of at most ``max_length`` characters."""
        value = self._raw[name]
        if not isinstance(value, str) or not 0 < len(value) <= max_length:
            raise self._fail(name, f"text of 1 to {max_length} characters")
        return value

    def checked(self, name: str, check: Callable[[object, str], list[Violation]]) -> str:
        """A string that ``check`` (one of :mod:`backchannel.domain.ids`' ``check_*``) accepts."""
        value = self._raw[name]
        violations = check(value, f"{self._where}.{name}")
        if violations:
            raise EncodingError(violations[0].message)
        assert isinstance(value, str)
        return value

    def optional_checked(self, name: str, check: Callable[[object, str], list[Violation]]) -> str | None:
        """Like :meth:`checked`, or ``None`` for JSON null."""
        return None if self._raw[name] is None else self.checked(name, check)

    def checked_list(self, name: str, check: Callable[[object, str], list[Violation]]) -> tuple[str, ...]:
        """A list of strings, each accepted by ``check``."""
        value = self._raw[name]
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self._fail(name, "a list")
        out: list[str] = []
        for index, item in enumerate(value):
            violations = check(item, f"{self._where}.{name}.{index}")
            if violations:
                raise EncodingError(violations[0].message)
            out.append(str(item))
        return tuple(out)

    def integer(self, name: str, minimum: int = 0) -> int:
        """An integer (not a boolean) of at least ``minimum``."""
        value = self._raw[name]
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self._fail(name, f"an integer >= {minimum}")
        return value

    def optional_integer(self, name: str, minimum: int = 0) -> int | None:
        """Like :meth:`integer`, or ``None`` for JSON null."""
        return None if self._raw[name] is None else self.integer(name, minimum)

    def hex32(self, name: str) -> bytes:
        """32 bytes written as 64 lowercase hex digits."""
        value = self._raw[name]
        if not isinstance(value, str) or not _HEX32.fullmatch(value):
            raise self._fail(name, "64 lowercase hex digits")
        return bytes.fromhex(value)

    def hex32_list(self, name: str) -> tuple[bytes, ...]:
        """A list of 32-byte values, each as 64 lowercase hex digits."""
        value = self._raw[name]
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self._fail(name, "a list")
        if not all(isinstance(item, str) and _HEX32.fullmatch(item) for item in value):
            raise self._fail(name, "a list of 64-hex-digit values")
        return tuple(bytes.fromhex(str(item)) for item in value)

    def time(self, name: str) -> datetime:
        """An instant written as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
        value = self._raw[name]
        if not isinstance(value, str) or not _TIME.fullmatch(value):
            raise self._fail(name, "a UTC time like 2026-01-31T12:00:00.000000Z")
        try:
            return datetime.fromisoformat(value)
        except ValueError as e:
            raise self._fail(name, "a valid date and time") from e

    def optional_time(self, name: str) -> datetime | None:
        """Like :meth:`time`, or ``None`` for JSON null."""
        return None if self._raw[name] is None else self.time(name)

    def kind(self, name: str, kind: type[E]) -> E:
        """One of the values of the enum ``kind``."""
        value = self._raw[name]
        if not isinstance(value, str) or value not in {member.value for member in kind}:
            raise self._fail(name, f"one of {', '.join(member.value for member in kind)}")
        return kind(value)

    def json(self, name: str) -> JSONValue:
        """Any JSON value, frozen (see :func:`freeze`)."""
        try:
            return freeze(self._raw[name], f"{self._where}.{name}")
        except SchemaViolationError as e:
            raise EncodingError(str(e)) from e
