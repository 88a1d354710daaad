"""RFC 8785 (JCS) canonical JSON: the bytes that backchannel hashes and signs.

:func:`canonicalize` turns a JSON value into its one canonical byte string;
:func:`loads_strict` parses JSON refusing everything that could make two
readers disagree (duplicate keys, ``NaN``/``Infinity``, integers outside the
IEEE 754 safe range, invalid UTF-8); :func:`parse_canonical` additionally
demands that the input already *is* canonical, so that re-serialising a signed
value can never change its bytes.

The reference implementation is the ``rfc8785`` package. Values without floats
and without object keys whose UTF-16 order could differ from code-point order
take a fast path through the C ``json`` encoder, which produces identical bytes
for them (a property test pins the equivalence).

This module does not sign, hash or know about events.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping

import rfc8785

from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = ["MAX_SAFE_INTEGER", "JSONValue", "canonicalize", "loads_strict", "parse_canonical"]


MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer JSON (IEEE 754 double) carries exactly; JCS refuses larger."""

# Code points at or above U+E000 may sort differently in UTF-16 code units
# (JCS) and in code points (Python); keys with them take the reference path.
_UTF16_ORDER_SAFE_BELOW = "\ue000"
_MAX_DEPTH = 256

_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
)


_REFERENCE = 1  # floats, or keys whose UTF-16 order may differ: rfc8785 writes it
_CONVERT = 2  # non-dict mappings, subclasses of str/int/float: copy to plain types first


def _inspect(value: JSONValue, depth: int = 0) -> int:  # noqa: C901, PLR0911, PLR0912 - one branch per JSON type
    """Validate ``value`` for JCS; return the :data:`_REFERENCE`/:data:`_CONVERT` flags it needs.

    Raises:
        EncodingError: a type JSON does not have, an unsafe integer, a non-string key,
            or nesting deeper than 256.
    """
    if depth > _MAX_DEPTH:
        raise EncodingError(f"JSON value nested deeper than {_MAX_DEPTH} levels")
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return 0
    if kind is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:  # type: ignore[operator]
            return 0
        raise EncodingError(f"integer {value} is outside the range JSON carries exactly (|n| <= 2^53-1)")
    if kind is float:
        return _REFERENCE
    flags = 0
    if isinstance(value, Mapping):
        if kind is not dict:
            flags |= _CONVERT
        for key, item in value.items():
            if type(key) is not str:
                if not isinstance(key, str):
                    raise EncodingError(f"object key {key!r} is not a string")
                flags |= _CONVERT
            if not key.isascii() and max(key) >= _UTF16_ORDER_SAFE_BELOW:
                flags |= _REFERENCE
            flags |= _inspect(item, depth + 1)
        return flags
    if isinstance(value, (list, tuple)):
        for item in value:
            flags |= _inspect(item, depth + 1)
        return flags
    if isinstance(value, str):  # a str subclass (StrEnum...)
        return _CONVERT
    if isinstance(value, int):  # an int subclass (IntEnum...); bool was handled above
        return _CONVERT | _inspect(int(value), depth)
    if isinstance(value, float):  # a float subclass
        return _CONVERT | _REFERENCE
    raise EncodingError(f"{kind.__name__} is not a JSON type")


def _plain(value: JSONValue) -> JSONValue:
    """A copy of ``value`` made of plain ``dict``/``list``/``str``/``int``/``float`` only."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, Mapping):
        return {str.__str__(k): _plain(v) for k, v in value.items()}
    return [_plain(v) for v in value]


def canonicalize(value: JSONValue) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Args:
        value: A JSON value: ``None``, ``bool``, ``int`` (|n| <= 2^53-1), finite
            ``float``, ``str``, a list/tuple, or a mapping with string keys,
            nested at most 256 deep.

    Returns:
        The canonical bytes.

    Raises:
        EncodingError: the value cannot be represented exactly (NaN, infinities,
            unsafe integers, lone surrogates, non-JSON types, non-string keys).
    """
    flags = _inspect(value)
    if flags & _CONVERT:
        value = _plain(value)
    try:
        if flags & _REFERENCE:
            return rfc8785.dumps(value)
        return _encoder.encode(value).encode("utf-8")
    except rfc8785.CanonicalizationError as e:
        raise EncodingError(f"not representable in canonical JSON: {e}") from e
    except UnicodeEncodeError as e:
        raise EncodingError(f"string is not valid Unicode (lone surrogate?): {e.reason}") from e


def _refuse_constant(name: str) -> float:
    raise EncodingError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int | float:
    number = int(text)
    if -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        return number
    # JSON numbers are IEEE 754 doubles: JCS writes a whole double such as 1e16 as
    # 10000000000000000 and 2**68 as 295147905179352830000 (shortest digits, padded).
    # Read such a literal back as its double when it is that double's exact value or
    # its JCS form; refuse any other (e.g. 2**53 + 1, which would silently round).
    as_double = float(number)
    if math.isfinite(as_double) and (int(as_double) == number or rfc8785.dumps(as_double) == text.encode()):
        return as_double
    raise EncodingError(f"integer {text} is outside the range JSON carries exactly (|n| <= 2^53-1)")


def _parse_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise EncodingError(f"number {text} overflows a double (not finite)")
    return number


def _unique_keys(pairs: list[tuple[str, JSONValue]]) -> dict[str, JSONValue]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # pragma: no branch - a duplicate is always found
            if key in seen:
                raise EncodingError(f"duplicate object key {key!r}")
            seen.add(key)
    return obj


_decoder = json.JSONDecoder(
    object_pairs_hook=_unique_keys,
    parse_constant=_refuse_constant,
    parse_int=_parse_int,
    parse_float=_parse_float,
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _check_unicode(value: JSONValue) -> None:
    """Refuse lone surrogates (only called when the text holds a surrogate escape)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise EncodingError("string holds a lone surrogate (not valid Unicode)") from e
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_unicode(key)
            _check_unicode(item)
    elif isinstance(value, list):
        for item in value:
            _check_unicode(item)


def loads_strict(data: bytes | str) -> JSONValue:
    """Parse JSON, refusing anything two readers could read differently.

    Args:
        data: UTF-8 bytes or text holding exactly one JSON value.

    Returns:
        The parsed value (objects as ``dict``, arrays as ``list``).

    Raises:
        EncodingError: invalid UTF-8, malformed JSON (with line and column),
            duplicate keys, ``NaN``/``Infinity``, or unsafe integers.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as e:
        raise EncodingError(f"not valid UTF-8 at byte {e.start}") from e
    try:
        value: JSONValue = _decoder.decode(text)
    except json.JSONDecodeError as e:
        raise EncodingError(f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
    except RecursionError as e:
        raise EncodingError("JSON nested too deeply to parse") from e
    if _SURROGATE_ESCAPE.search(text):
        _check_unicode(value)
    return value


def parse_canonical(data: bytes) -> JSONValue:
    """Parse bytes that must already be in RFC 8785 canonical form.

    Args:
        data: The bytes, as they were signed or hashed.

    Returns:
        The parsed value.

    Raises:
        EncodingError: the bytes are not valid strict JSON, or are valid JSON
            that is not canonical (whitespace, key order, number or string form).
    """
    value = loads_strict(data)
    if canonicalize(value) != data:
        raise EncodingError("JSON is not in RFC 8785 canonical form")
    return value
