"""Deterministic salt sources, so logs built in tests and simulations are reproducible."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable

__all__ = ["SaltSource", "UnsafeDeterministicSalts"]


class UnsafeDeterministicSalts:
    """A salt source derived from a seed: ``SHA-256(seed || counter)``, truncated.

    Unsafe: predictable salts let anyone who guesses an event's content confirm it
    from its leaf hash. For tests, golden vectors and seeded simulations only.
    """

    def __init__(self, seed: bytes = b"backchannel-test") -> None:
        """Start the sequence for ``seed``."""
        self._seed = seed
        self._counter = itertools.count()

    def __call__(self, size: int) -> bytes:
        """Return the next ``size`` (<= 32) bytes of the sequence."""
        if not 0 < size <= 32:
            raise ValueError("UnsafeDeterministicSalts yields 1 to 32 bytes at a time")
        digest = hashlib.sha256(self._seed + next(self._counter).to_bytes(8, "big")).digest()
        return digest[:size]


SaltSource = Callable[[int], bytes]
