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
from typing import Annotated, ClassVar, TypeAlias

from backchannel.domain._event_base import Decoding, Recorded, open_event
from backchannel.domain.agreements.obligations import (
    ObligationSpec,
    check_metric,
    check_obligation_id,
    micro_from_text,
    micro_text,
)
from backchannel.domain.codec import LOG, Checked, Integer, Items, Text, Using, build
from backchannel.domain.ids import check_party_id
from backchannel.domain.values import JSONValue

__all__ = [
    "ObligationDeescalated",
    "ObligationDefined",
    "ObligationEscalated",
    "ObligationEvent",
    "ObligationMetered",
    "spec_to_dict",
]

_SOURCE_MAX = 128
_UNIT_MAX = 32
_TIER_MAX = 64


def _exact_decimal(value: JSONValue, path: str) -> str:
    micro_from_text(value, path)  # the exact form only (a SchemaViolationError otherwise)
    return str(value)


ObligationId: TypeAlias = Annotated[str, Checked(check_obligation_id)]
"""An obligation id field (:func:`check_obligation_id`)."""
Decimal: TypeAlias = Annotated[str, Using(_exact_decimal, str)]
"""A quantity as exact decimal text (``micro_text``'s form)."""
Tier: TypeAlias = Annotated[str, Text(_TIER_MAX)]
"""A tier's name."""
Source: TypeAlias = Annotated[str, Text(_SOURCE_MAX)]
"""Where a consumption record came from."""
_PARTY, _METRIC, _UNIT = Checked(check_party_id), Checked(check_metric), Text(_UNIT_MAX)
_PERIOD, _LEVEL = Integer(1), Integer(0)


def spec_to_dict(spec: ObligationSpec) -> dict[str, JSONValue]:
    """The JSON form of an obligation's terms (``obligation.defined`` carries it; views show it)."""
    return {
        "obligation": spec.obligation,
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationEvent(Recorded):
    """The common part of every obligation event: the obligation's id."""

    obligation: ObligationId


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
        return {"type": self.type, **LOG.schema(Recorded).to_dict(self), **spec_to_dict(self.spec)}

    @classmethod
    def from_dict(cls, value: JSONValue) -> ObligationDefined:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            obligation = r.read("obligation", Checked(check_obligation_id))
            spec = ObligationSpec(
                obligation=obligation,
                party=r.read("party", _PARTY),
                metric=r.read("metric", _METRIC),
                unit=r.read("unit", _UNIT),
                rate=micro_from_text(r.raw("rate"), f"{cls.type}.rate"),
                burst=micro_from_text(r.raw("burst"), f"{cls.type}.burst"),
                period_seconds=r.read("period_seconds", _PERIOD),
                ladder=r.read("ladder", Items(Checked(check_obligation_id))),
                hold_seconds=r.read("hold_seconds", _PERIOD),
                recovery_pct=r.read("recovery_pct", _LEVEL),
                shared_with=r.read("shared_with", Items(_PARTY)),
            )
            return build(cls, {**common, "obligation": obligation, "spec": spec})


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationMetered(ObligationEvent):
    """A consumption record was metered against the obligation (see the module docstring)."""

    type: ClassVar[str] = "obligation.metered"
    amount: Decimal
    unit: Annotated[str, _UNIT]
    observed_at: datetime
    metered_at: datetime
    source: Source | None
    available: Decimal
    tokens: Decimal
    overdraw: Decimal
    level: Annotated[int, _LEVEL]
    tier: Tier

    @property
    def overdrew(self) -> bool:
        """True if the record overdrew the bucket (a violation)."""
        return self.overdraw != "0"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationEscalated(ObligationEvent):
    """The overdraw of the record just metered raised the level from ``from_level`` to ``to_level``."""

    type: ClassVar[str] = "obligation.escalated"
    from_level: Annotated[int, _LEVEL]
    to_level: Annotated[int, _PERIOD]
    tier: Tier
    effective_at: datetime
    observed_at: datetime
    source: Source | None
    overdraw: Decimal
    tokens: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class ObligationDeescalated(ObligationEvent):
    """The level dropped one tier at ``effective_at``; the hold had begun at ``held_since``."""

    type: ClassVar[str] = "obligation.deescalated"
    from_level: Annotated[int, _PERIOD]
    to_level: Annotated[int, _LEVEL]
    tier: Tier
    effective_at: datetime
    held_since: datetime
    tokens: Decimal
