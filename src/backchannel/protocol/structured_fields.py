"""Structured Field Values (RFC 8941): the strict subset RFC 9421 signatures meet.

A small parser and serialiser for dictionaries, inner lists, parameters,
strings, integers, tokens, booleans and byte sequences. Byte sequences must be
canonical base64; a missing ``=`` padding is accepted, as RFC 8941 §4.2.7 asks
of parsers. Every parse failure is a :class:`~backchannel.errors.VerificationError`
naming the field and the offset.

This module does not parse decimals, lists or items at the top level, and knows
nothing of signatures: :mod:`backchannel.protocol.httpsig` builds on it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from backchannel.errors import EncodingError, VerificationError
from backchannel.log.signing import b64decode

__all__ = [
    "BareItem",
    "InnerList",
    "Item",
    "MalformedError",
    "Parser",
    "Token",
    "parse_dictionary",
    "serialize_inner_list",
    "serialize_string",
]

_MAX_SF_INTEGER = 999_999_999_999_999
_SF_STRING_CHARS = re.compile(r"[\x20-\x7e]*")

# RFC 8941 lexical pieces.
_SF_KEY = re.compile(r"[a-z*][a-z0-9_.*-]*")
_SF_STRING = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_SF_UNESCAPE = re.compile(r'\\(["\\])')
_SF_INTEGER = re.compile(r"-?[0-9]{1,15}(?![0-9.])")
_SF_BYTES = re.compile(r":([A-Za-z0-9+/=]*):")
_SF_BOOLEAN = re.compile(r"\?[01]")
_SF_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+.^_`|~0-9A-Za-z:/-]*")


# --------------------------------------------------------------------------------------------------
# Structured fields (RFC 8941), the strict subset
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    """An sf-token, kept apart from sf-strings so a token never passes for a string."""

    value: str


BareItem = int | str | bytes | bool | Token


@dataclass(frozen=True, slots=True)
class Item:
    """An item: a bare value and its parameters."""

    value: BareItem
    params: dict[str, BareItem]


@dataclass(frozen=True, slots=True)
class InnerList:
    """An inner list: items and the list's parameters."""

    items: tuple[Item, ...]
    params: dict[str, BareItem]


class Parser:
    """A cursor over one field value; every failure names the field and the offset."""

    def __init__(self, text: str, field: str) -> None:
        """Start at offset 0 of ``text``, the value of the field named ``field``."""
        self.text = text
        self.pos = 0
        self.field = field

    def fail(self, what: str) -> VerificationError:
        """The error to raise: ``what`` went wrong here."""
        return VerificationError(f"{self.field}: {what} at offset {self.pos}")

    def peek(self) -> str:
        """The next character (``""`` at the end)."""
        return self.text[self.pos : self.pos + 1]

    def skip(self, chars: str) -> None:
        """Move past any of ``chars``."""
        while self.peek() and self.peek() in chars:
            self.pos += 1

    def dictionary(self) -> dict[str, Item | InnerList]:
        """Parse the whole value as an sf-dictionary."""
        members: dict[str, Item | InnerList] = {}
        self.skip(" ")
        while True:
            key = self.key()
            if key in members:
                raise self.fail(f"duplicate member {key!r}")
            if self.peek() == "=":
                self.pos += 1
                members[key] = self.inner_list() if self.peek() == "(" else self.item()
            else:
                members[key] = Item(value=True, params=self.parameters())
            self.skip(" \t")
            if not self.peek():
                return members
            if self.peek() != ",":
                raise self.fail("expected ',' between members")
            self.pos += 1
            self.skip(" \t")
            if not self.peek():
                raise self.fail("trailing ','")

    def key(self) -> str:
        """Parse an sf-key."""
        match = _SF_KEY.match(self.text, self.pos)
        if match is None:
            raise self.fail("expected a key (lowercase letter or '*')")
        self.pos = match.end()
        return match.group()

    def inner_list(self) -> InnerList:
        """Parse an inner list (the cursor is on its ``(``)."""
        self.pos += 1  # the "(" the caller saw
        items: list[Item] = []
        while True:
            self.skip(" ")
            if self.peek() == ")":
                self.pos += 1
                return InnerList(items=tuple(items), params=self.parameters())
            items.append(self.item())
            if self.peek() not in {" ", ")"}:
                raise self.fail("expected ' ' or ')' in an inner list")

    def item(self) -> Item:
        """Parse an item and its parameters."""
        return Item(value=self.bare_item(), params=self.parameters())

    def parameters(self) -> dict[str, BareItem]:
        """Parse parameters (none when the next character is not ``;``)."""
        params: dict[str, BareItem] = {}
        while self.peek() == ";":
            self.pos += 1
            self.skip(" ")
            key = self.key()
            if key in params:
                raise self.fail(f"duplicate parameter {key!r}")
            if self.peek() == "=":
                self.pos += 1
                params[key] = self.bare_item()
            else:
                params[key] = True
        return params

    def bare_item(self) -> BareItem:
        """Parse a bare item: string, integer, byte sequence, boolean or token."""
        value: BareItem
        if match := _SF_STRING.match(self.text, self.pos):
            value = _SF_UNESCAPE.sub(r"\1", match.group(1))
        elif match := _SF_INTEGER.match(self.text, self.pos):
            value = int(match.group())
        elif match := _SF_BYTES.match(self.text, self.pos):
            text = match.group(1)
            # RFC 8941 §4.2.7: parsers SHOULD NOT fail when "=" padding is absent.
            padded = text + "=" * (-len(text) % 4) if len(text) % 4 != 1 else text
            try:
                value = b64decode(padded, field="byte sequence")
            except EncodingError as e:
                raise self.fail(str(e)) from e
        elif match := _SF_BOOLEAN.match(self.text, self.pos):
            value = match.group() == "?1"
        elif match := _SF_TOKEN.match(self.text, self.pos):
            value = Token(match.group())
        else:
            raise self.fail("expected a string, integer, byte sequence, boolean or token")
        self.pos = match.end()
        return value


def parse_dictionary(text: str, field: str) -> dict[str, Item | InnerList]:
    """Parse ``text``, the value of header ``field``, as an sf-dictionary.

    Raises:
        VerificationError: malformed, naming the field and the offset.
    """
    return Parser(text, field).dictionary()


def serialize_string(value: str) -> str:
    """Serialise an sf-string.

    Raises:
        MalformedError: ``value`` is not printable ASCII.
    """
    if not _SF_STRING_CHARS.fullmatch(value):
        raise MalformedError(f"{value[:80]!r} is not printable ASCII, so not an sf-string")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _serialize_parameters(params: Mapping[str, int | str]) -> str:
    return "".join(f";{_serialize_key(name)}={_serialize_value(value)}" for name, value in params.items())


def _serialize_key(name: str) -> str:
    if not _SF_KEY.fullmatch(name):
        raise MalformedError(f"parameter name {name[:80]!r} is not an sf-key")
    return name


def _serialize_value(value: int | str) -> str:
    if isinstance(value, str):
        return serialize_string(value)
    if isinstance(value, bool) or not -_MAX_SF_INTEGER <= value <= _MAX_SF_INTEGER:
        raise MalformedError(f"parameter value {value!r} is neither an sf-string nor an sf-integer")
    return str(value)


def serialize_inner_list(components: Sequence[str], params: Mapping[str, int | str]) -> str:
    """Serialise an inner list of sf-strings with parameters (strings or integers).

    Raises:
        MalformedError: a value that cannot be serialised.
    """
    inner = " ".join(serialize_string(c) for c in components)
    return f"({inner}){_serialize_parameters(params)}"


class MalformedError(Exception):
    """A message that cannot be put into a signature base; the caller picks the public error."""
