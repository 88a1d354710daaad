"""Obligation events: defined, metered, escalated, deescalated (ADR-0018).

Every decision about an obligation is one of these events, re-exported by
:mod:`backchannel.domain.events` (which describes the common fields and
encodings). Quantities are exact decimal **text** in the metric's unit
(:func:`~backchannel.domain.agreements.obligations.micro_text`: ``"3.5"``,
``"-10"``), never JSON numbers, so the log never rounds: an amount is exact;
tokens (a bucket holds fractions of a micro-unit) are rounded down to the
micro-unit and overdraws rounded up. The exact bucket is recomputed from the
amounts and times by :mod:`~backchannel.domain.agreements.obligation_rules`.

- ``obligation.defined``: the terms (``rate``, ``burst`` as text);
- ``obligation.metered``: one consumption record and what it did
  (``available`` before, ``tokens`` after, ``overdraw``; ``level`` and
  ``tier`` after it);
- ``obligation.escalated``: the overdraw of the record just metered raised
  the level (``effective_at`` is its metering time);
- ``obligation.deescalated``: the level dropped one tier at the computed
  instant ``effective_at``, the hold having begun at ``held_since``.

This module does not decide or apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from backchannel.domain._event_base import Decoding, Recorded, open_event
from backchannel.domain._json import Reader
from backchannel.domain.agreements.obligations import (
    ObligationSpec,
    check_metric,
    check_obligation_id,
    micro_from_text,
    micro_text,
)
from backchannel.domain.ids import check_party_id
from backchannel.domain.keys import time_text
from backchannel.domain.values import JSONValue

__all__ = [
    "ObligationDeescalated",
    "ObligationDefined",
    "ObligationEscalated",
    "ObligationEvent",
    "ObligationMetered",
]

_SOURCE_MAX = 128
_UNIT_MAX = 32
_TIER_MAX = 64


def _source(reader: Reader) -> str | None:
    return None if reader.raw("source") is None else reader.text("source", _SOURCE_MAX)


def _quantity(reader: Reader, name: str, where: str) -> str:
    value = reader.raw(name)
    micro_from_text(value, f"{where}.{name}")  # the exact form only
    assert isinstance(value, str)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationEvent(Recorded):
    """The common part of every obligation event: the obligation's id."""

    obligation: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationDefined(ObligationEvent):
    """The mediator defined an obligation; its bucket starts full at ``at``."""

    type: ClassVar[str] = "obligation.defined"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "obligation",
            "party",
            "metric",
            "unit",
            "rate",
            "burst",
            "period_seconds",
            "ladder",
            "hold_seconds",
            "recovery_pct",
            "shared_with",
        }
    )
    spec: ObligationSpec

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        spec = self.spec
        return {
            **self.common_dict(),
            "obligation": self.obligation,
            "party": spec.party,
            "metric": spec.metric,
            "unit": spec.unit,
            "rate": micro_text(spec.rate),
            "burst": micro_text(spec.burst),
            "period_seconds": spec.period_seconds,
            "ladder": list(spec.ladder),
            "hold_seconds": spec.hold_seconds,
            "recovery_pct": spec.recovery_pct,
            "shared_with": list(spec.shared_with),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> ObligationDefined:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            obligation = r.checked("obligation", check_obligation_id)
            spec = ObligationSpec(
                obligation=obligation,
                party=r.checked("party", check_party_id),
                metric=r.checked("metric", check_metric),
                unit=r.text("unit", _UNIT_MAX),
                rate=micro_from_text(r.raw("rate"), f"{cls.type}.rate"),
                burst=micro_from_text(r.raw("burst"), f"{cls.type}.burst"),
                period_seconds=r.integer("period_seconds", 1),
                ladder=tuple(r.checked_list("ladder", check_obligation_id)),
                hold_seconds=r.integer("hold_seconds", 1),
                recovery_pct=r.integer("recovery_pct", 0),
                shared_with=r.checked_list("shared_with", check_party_id),
            )
            return cls(**common, obligation=obligation, spec=spec)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationMetered(ObligationEvent):
    """A consumption record was metered against the obligation (see the module docstring)."""

    type: ClassVar[str] = "obligation.metered"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "obligation",
            "amount",
            "unit",
            "observed_at",
            "metered_at",
            "source",
            "available",
            "tokens",
            "overdraw",
            "level",
            "tier",
        }
    )
    amount: str
    unit: str
    observed_at: datetime
    metered_at: datetime
    source: str | None
    available: str
    tokens: str
    overdraw: str
    level: int
    tier: str

    @property
    def overdrew(self) -> bool:
        """True if the record overdrew the bucket (a violation)."""
        return self.overdraw != "0"

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "obligation": self.obligation,
            "amount": self.amount,
            "unit": self.unit,
            "observed_at": time_text(self.observed_at),
            "metered_at": time_text(self.metered_at),
            "source": self.source,
            "available": self.available,
            "tokens": self.tokens,
            "overdraw": self.overdraw,
            "level": self.level,
            "tier": self.tier,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> ObligationMetered:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                obligation=r.checked("obligation", check_obligation_id),
                amount=_quantity(r, "amount", cls.type),
                unit=r.text("unit", _UNIT_MAX),
                observed_at=r.time("observed_at"),
                metered_at=r.time("metered_at"),
                source=_source(r),
                available=_quantity(r, "available", cls.type),
                tokens=_quantity(r, "tokens", cls.type),
                overdraw=_quantity(r, "overdraw", cls.type),
                level=r.integer("level", 0),
                tier=r.text("tier", _TIER_MAX),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationEscalated(ObligationEvent):
    """The overdraw of the record just metered raised the level from ``from_level`` to ``to_level``."""

    type: ClassVar[str] = "obligation.escalated"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {
            "obligation",
            "from_level",
            "to_level",
            "tier",
            "effective_at",
            "observed_at",
            "source",
            "overdraw",
            "tokens",
        }
    )
    from_level: int
    to_level: int
    tier: str
    effective_at: datetime
    observed_at: datetime
    source: str | None
    overdraw: str
    tokens: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "obligation": self.obligation,
            "from_level": self.from_level,
            "to_level": self.to_level,
            "tier": self.tier,
            "effective_at": time_text(self.effective_at),
            "observed_at": time_text(self.observed_at),
            "source": self.source,
            "overdraw": self.overdraw,
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> ObligationEscalated:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                obligation=r.checked("obligation", check_obligation_id),
                from_level=r.integer("from_level", 0),
                to_level=r.integer("to_level", 1),
                tier=r.text("tier", _TIER_MAX),
                effective_at=r.time("effective_at"),
                observed_at=r.time("observed_at"),
                source=_source(r),
                overdraw=_quantity(r, "overdraw", cls.type),
                tokens=_quantity(r, "tokens", cls.type),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationDeescalated(ObligationEvent):
    """The level dropped one tier at ``effective_at``; the hold had begun at ``held_since``."""

    type: ClassVar[str] = "obligation.deescalated"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"obligation", "from_level", "to_level", "tier", "effective_at", "held_since", "tokens"}
    )
    from_level: int
    to_level: int
    tier: str
    effective_at: datetime
    held_since: datetime
    tokens: str

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form (see the module docstring)."""
        return {
            **self.common_dict(),
            "obligation": self.obligation,
            "from_level": self.from_level,
            "to_level": self.to_level,
            "tier": self.tier,
            "effective_at": time_text(self.effective_at),
            "held_since": time_text(self.held_since),
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> ObligationDeescalated:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                obligation=r.checked("obligation", check_obligation_id),
                from_level=r.integer("from_level", 1),
                to_level=r.integer("to_level", 0),
                tier=r.text("tier", _TIER_MAX),
                effective_at=r.time("effective_at"),
                held_since=r.time("held_since"),
                tokens=_quantity(r, "tokens", cls.type),
            )
