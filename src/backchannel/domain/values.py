"""Plain value types shared by the domain and the log (no behaviour)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

__all__ = ["JSONValue"]

JSONValue: TypeAlias = bool | int | float | str | Sequence["JSONValue"] | Mapping[str, "JSONValue"] | None
"""A JSON value as Python sees it (lists may be any sequence, objects any mapping)."""
