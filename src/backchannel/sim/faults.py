"""The fault model: what can go wrong in a run, drawn from the seed or written out.

A :class:`Fault` is one event of a schedule. Faults on a request are keyed by
the command number ``at`` (the *n*-th command POST of the run, counting
retries): ``drop_request``, ``drop_response``, ``duplicate``, ``delay``,
``reorder`` (the network holds the request; the client times out and resends
it, and the original arrives after the next two commands, out of order),
``crash`` (the service runs the command, then dies before answering, and
restarts ``seconds`` later from its store) and ``store_failure`` (the append
fails and is rolled back). ``offline`` takes ``party`` (a whole party, or one
member ``party/name``) off the network for ``seconds`` from command ``at``
(its moves wait, or its delegate plays them); ``skew`` sets member ``party``'s clock
``seconds`` ahead (negative: behind) for the whole run.

This module does not apply faults (:mod:`backchannel.sim.run` and
:mod:`backchannel.sim.network` do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from backchannel.errors import ConfigurationError
from backchannel.sim.network import Wire

__all__ = ["KINDS", "Fault", "draw_faults", "fault_from_dict", "wire_for"]

KINDS = (
    "drop_request",
    "drop_response",
    "duplicate",
    "delay",
    "reorder",
    "crash",
    "store_failure",
    "offline",
    "skew",
)
"""Every fault kind."""

_PER_REQUEST = frozenset(
    {"drop_request", "drop_response", "duplicate", "delay", "reorder", "crash", "store_failure"}
)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault of a schedule.

    Attributes:
        kind: One of :data:`KINDS`.
        at: The command number it strikes (1-based; unused by ``skew``).
        party: The party (``offline``) or member (``skew``) it concerns.
        seconds: The delay, downtime, offline window or clock offset.
    """

    kind: str
    at: int = 0
    party: str = ""
    seconds: float = 0.0

    def describe(self) -> str:
        """One line for humans."""
        where = f" {self.party}" if self.party else ""
        when = f" at command {self.at}" if self.kind != "skew" else ""
        span = f" ({self.seconds:g} s)" if self.seconds else ""
        return f"{self.kind}{where}{when}{span}"

    def to_dict(self) -> dict[str, str | int | float]:
        """The TOML/JSON form."""
        return {"kind": self.kind, "at": self.at, "party": self.party, "seconds": self.seconds}


def fault_from_dict(value: Mapping[str, object], where: str) -> Fault:
    """Read a fault written out in a scenario (``where`` names it in errors).

    Raises:
        ConfigurationError: an unknown kind or a field of the wrong type.
    """
    kind = value.get("kind")
    if kind not in KINDS:
        raise ConfigurationError(f"{where}.kind: must be one of {', '.join(KINDS)} (got {kind!r})")
    at, party, seconds = value.get("at", 0), value.get("party", ""), value.get("seconds", 0.0)
    if not isinstance(at, int) or isinstance(at, bool) or at < 0:
        raise ConfigurationError(f"{where}.at: must be a command number >= 0 (got {at!r})")
    if not isinstance(party, str):
        raise ConfigurationError(f"{where}.party: must be a string (got {party!r})")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        raise ConfigurationError(f"{where}.seconds: must be a number (got {seconds!r})")
    if kind in {"offline", "skew"} and not party:
        raise ConfigurationError(f"{where}.party: a {kind} fault names a party")
    return Fault(str(kind), at, party, float(seconds))


def draw_faults(  # noqa: PLR0913 - the generator and what bounds the draw
    rng: np.random.Generator,
    count: int,
    *,
    kinds: Sequence[str],
    commands: int,
    parties: Sequence[str],
    members: Sequence[str],
) -> list[Fault]:
    """Draw ``count`` faults of ``kinds`` over the first ``commands`` commands, in order of ``at``."""
    faults = []
    for _ in range(count):
        kind = str(kinds[int(rng.integers(len(kinds)))])
        at = int(rng.integers(1, max(2, commands + 1)))
        party, seconds = "", 0.0
        if kind == "offline":
            party, seconds = str(parties[int(rng.integers(len(parties)))]), float(rng.integers(5, 60))
        elif kind == "skew":
            party, seconds = str(members[int(rng.integers(len(members)))]), float(rng.integers(-20, 21))
        elif kind in {"delay", "crash"}:
            seconds = float(rng.integers(1, 10))
        faults.append(Fault(kind, at, party, seconds))
    return sorted(faults, key=lambda f: (f.at, KINDS.index(f.kind), f.party))


def wire_for(faults: Sequence[Fault], number: int) -> Wire:
    """What the network does to command number ``number`` under ``faults``."""
    wire = Wire()
    for fault in faults:
        if fault.at != number or number == 0 or fault.kind not in _PER_REQUEST:
            continue
        if fault.kind == "drop_request":
            wire.drop_request = True
        elif fault.kind == "drop_response":
            wire.drop_response = True
        elif fault.kind == "duplicate":
            wire.duplicate = True
        elif fault.kind == "delay":
            wire.delay += fault.seconds
        elif fault.kind == "reorder":
            wire.reorder = True
        elif fault.kind == "store_failure":
            wire.store_failure = True
        else:
            wire.crash = fault.seconds
    return wire
