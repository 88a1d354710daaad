"""The base of the codec layer (private): paths, error styles, the strict reader, the codec interface.

See :mod:`backchannel.domain.codec`, which re-exports everything here. This
module holds no field codec and no format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = ["LOG_STYLE", "At", "Codec", "Plain", "Reader", "Style", "json_type"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

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


class At:
    """Where a value sits: its dotted path and the style its errors are worded in.

    A path keeps the paths below it once made (``at / "party"``), so reading
    the same fields again allocates nothing.
    """

    __slots__ = ("_below", "path", "style")

    def __init__(self, path: str, style: Style) -> None:
        """The path ``path`` (``""`` at the top), worded in ``style``."""
        self.path = path
        self.style = style
        self._below: dict[str | int, At] = {}

    def __truediv__(self, name: str | int) -> At:
        """The path of field or item ``name`` below this one."""
        below = self._below.get(name)
        if below is None:
            below = self._below[name] = At(f"{self.path}.{name}" if self.path else str(name), self.style)
        return below

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
        fields: Its exact field names (a set).
        at: Its path (``payload``, ``body``, ``track.opened``), or ``""`` at the top.
        label: How to call the object in errors when its path is empty.

    Raises:
        EncodingError: not an object, or unknown or missing fields (each named).
    """

    def __init__(self, raw: JSONValue, fields: AbstractSet[str], at: At, label: str = "") -> None:
        """Check the object's shape (see the class docstring)."""
        label = at.path or label
        self._raw = at.object(raw, label)
        self._at = at
        if self._raw.keys() == fields:
            return
        if unknown := self._raw.keys() - fields:
            raise EncodingError(at.style.closed(label, "unknown", at, unknown))
        raise EncodingError(at.style.closed(label, "missing", at, set(fields) - self._raw.keys()))

    def at(self, name: str) -> At:
        """Where field ``name`` sits."""
        return self._at / name

    def raw(self, name: str) -> JSONValue:
        """The field's value, unchecked."""
        return self._raw[name]

    def read(self, name: str, codec: Codec[T]) -> T:
        """The field's value decoded by ``codec``."""
        return codec.decode(self._raw[name], self._at / name)

    def read_all(self, fields: Iterable[tuple[str, Codec[T]]]) -> dict[str, T]:
        """Each named field's value decoded by its codec."""
        raw, at = self._raw, self._at
        return {name: codec.decode(raw[name], at / name) for name, codec in fields}


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


class Plain(Codec[T_co]):
    """A value that is its own JSON form (text, numbers)."""

    def encode(self, value: object) -> JSONValue:
        """``value`` itself."""
        return cast("JSONValue", value)
