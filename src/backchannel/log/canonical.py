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
from collections.abc import Mapping, Sequence
from typing import TypeAlias

import rfc8785

from backchannel.errors import EncodingError

__all__ = ["MAX_SAFE_INTEGER", "JSONValue", "canonicalize", "loads_strict", "parse_canonical"]

JSONValue: TypeAlias = bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
"""A JSON value as Python sees it (lists may be any sequence, objects any mapping)."""

MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer JSON (IEEE 754 double) carries exactly; JCS refuses larger."""

# Code points at or above U+E000 may sort differently in UTF-16 code units
# (JCS) and in code points (Python); keys with them take the reference path.
_UTF16_ORDER_SAFE_BELOW = "\ue000"

_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
)


def _fast_path_ok(value: JSONValue, depth: int = 0) -> bool:  # noqa: C901 - one branch per JSON type
    """Validate ``value`` for JCS and say whether the C encoder reproduces JCS for it.

    Raises:
        EncodingError: a type JSON does not have, an unsafe integer, a non-string key,
            or nesting deeper than 256.
    """
    if depth > 256:
        raise EncodingError("JSON value nested deeper than 256 levels")
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EncodingError(f"integer {value} is outside the range JSON carries exactly (|n| <= 2^53-1)")
        return True
    if isinstance(value, float):
        return False
    ok = True
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EncodingError(f"object key {key!r} is not a string")
            if max(key, default="") >= _UTF16_ORDER_SAFE_BELOW:
                ok = False
            ok = _fast_path_ok(item, depth + 1) and ok
        return ok
    if isinstance(value, (list, tuple)):
        for item in value:
            ok = _fast_path_ok(item, depth + 1) and ok
        return ok
    raise EncodingError(f"{type(value).__name__} is not a JSON type")


def canonicalize(value: JSONValue) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Args:
        value: A JSON value: ``None``, ``bool``, ``int`` (|n| <= 2^53-1), finite
            ``float``, ``str``, a list/tuple, or a mapping with string keys.

    Returns:
        The canonical bytes.

    Raises:
        EncodingError: the value cannot be represented exactly (NaN, infinities,
            unsafe integers, lone surrogates, non-JSON types, non-string keys).
    """
    try:
        if _fast_path_ok(value):
            return _encoder.encode(value).encode("utf-8")
        return rfc8785.dumps(value)
    except EncodingError:
        raise
    except rfc8785.CanonicalizationError as e:
        raise EncodingError(f"not representable in canonical JSON: {e}") from e
    except UnicodeEncodeError as e:
        raise EncodingError(f"string is not valid Unicode (lone surrogate?): {e.reason}") from e
    except (TypeError, ValueError) as e:  # pragma: no cover - defensive: _fast_path_ok rejects these first
        raise EncodingError(f"not representable in canonical JSON: {e}") from e


def _refuse_constant(name: str) -> float:
    raise EncodingError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int:
    number = int(text)
    if not -MAX_SAFE_INTEGER <= number <= MAX_SAFE_INTEGER:
        raise EncodingError(f"integer {text} is outside the range JSON carries exactly (|n| <= 2^53-1)")
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
    object_pairs_hook=_unique_keys, parse_constant=_refuse_constant, parse_int=_parse_int
)


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
