"""Runtime shape checks for values that static types cannot guarantee.

Constructors validate their fields at run time because callers may be untyped
(JSON decoders, the CLI, other languages' SDKs). Taking ``object`` keeps these
checks honest under ``mypy --strict`` instead of being flagged as redundant.
"""

from __future__ import annotations

__all__ = ["is_bytes_of", "is_natural", "is_text"]


def is_natural(value: object) -> bool:
    """Whether ``value`` is an ``int`` (not a ``bool``) and ``>= 0``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_bytes_of(value: object, length: int) -> bool:
    """Whether ``value`` is ``bytes`` of exactly ``length``."""
    return isinstance(value, bytes) and len(value) == length


def is_text(value: object) -> bool:
    """Whether ``value`` is a ``str``."""
    return isinstance(value, str)
