"""Checks on the ``now`` the broker is handed. It never reads a clock itself."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utc"]


def utc(now: datetime) -> datetime:
    """Return ``now`` in UTC, refusing a naive datetime.

    Args:
        now: The caller's current time.

    Returns:
        The same instant with ``tzinfo=UTC``.

    Raises:
        ValueError: ``now`` is naive (no timezone).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"the broker needs an aware UTC datetime, got naive {now.isoformat()}")
    return now.astimezone(UTC)
