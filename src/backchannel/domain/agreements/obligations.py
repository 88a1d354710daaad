"""Obligations metered by token buckets, with an escalation ladder and hysteresis (ADR-0018).

An **obligation** binds one party to consume a metric (``stockpile_kg``,
in ``kg``) at no more than a sustained ``rate`` per ``period`` with a
``burst`` allowance: a continuous token bucket. Every attested consumption
is **metered**; consuming more than the bucket holds is an **overdraw**,
which steps the party up an **escalation ladder** (``none ->
sanctions-tier-1 -> ...``). Staying within limits for a **hold time** steps
it down again, one tier per hold (hysteresis).

The rules, exactly:

- **Units.** Quantities are exact decimals with at most 6 fractional digits,
  held as integers of micro-units (``3.5 kg`` is ``3_500_000``). Times are
  integers of microseconds since the Unix epoch (what ``datetime`` holds).
  Inside a bucket, tokens are integer **ticks**: with ``period_us`` the period
  in microseconds and ``g = gcd(rate, period_us)``, one micro-unit is
  ``scale = period_us // g`` ticks and the bucket refills ``refill = rate // g``
  ticks per microsecond. So ``tokens + rate * dt`` is integer arithmetic: no
  float is ever rounded, and replaying the same records gives bit-identical
  buckets (floats would make "the same history" depend on summation order).
- **Refill.** ``tokens(t) = min(burst, tokens(t0) + rate * (t - t0))``,
  continuous. A new obligation starts full at its definition time.
- **Consumption** of ``x`` at ``t``: ``tokens = tokens(t) - x``. Tokens may go
  **negative** (a debt the refill must pay back first); there is no lower
  clamp. The **overdraw** is the part of ``x`` the bucket did not cover,
  ``min(x, -tokens)`` when ``tokens < 0``; any overdraw > 0 is a violation.
  (A consumption of 0 is never an overdraw.)
- **Time order.** A record is metered at ``max(observed_at, clock)``, where
  ``clock`` is the bucket's last update (its last consumption or ladder
  step): a record observed before it is metered at the clock, with no refill
  credited, and history is never rewritten.
- **Step up.** An overdraw raises the level by one tier, up to the top tier;
  at the top it changes nothing but the hold (below). Every overdraw, at any
  level, restarts the hold.
- **Step down (hysteresis).** At level > 0 the level drops by one tier at the
  earliest instant ``t`` with both ``t >= calm_since + hold`` (``calm_since``:
  the last overdraw or ladder step) and ``100 * tokens(t) >= recovery_pct *
  burst``. Steps down are computed, not sampled: the instant is exact and
  does not depend on when anyone looks (:func:`next_step_down`). Steps due at
  or before a record's metering time are taken before it; a step-down at the
  same instant as an overdraw comes first.

Functions:

- :func:`meter` meters one record (``advance`` to its time, then
  ``consume``): **the one pure function attested consumption goes through**;
- :func:`advance` takes the steps down due up to an instant (the service's
  review tick);
- :func:`next_step_down`, :func:`tokens_at`: queries.

A history of records in observed order therefore gives the same ladder
history however often (or rarely) the service reviews: a review only makes a
due step visible sooner. :mod:`~backchannel.domain.agreements.obligations_vec`
computes the same over NumPy arrays.

This module holds values and arithmetic only: no events (see
:mod:`~backchannel.domain.agreements.obligation_events`), no commands, no
track state, no I/O and no clock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from backchannel.domain.agreements._quantities import (
    EPOCH,
    MAX_QUANTITY,
    MICRO,
    instant_of,
    instant_us,
    micro_from_text,
    micro_text,
    quantity_micro,
    ticks_text,
)
from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.ids import check_party_id

__all__ = [
    "MAX_LADDER",
    "MAX_QUANTITY",
    "MAX_SECONDS",
    "MAX_SHARED",
    "MICRO",
    "Bucket",
    "Consumption",
    "LadderStep",
    "Metered",
    "ObligationRecord",
    "ObligationSpec",
    "StepDown",
    "advance",
    "check_metric",
    "check_obligation_id",
    "consume",
    "instant_of",
    "instant_us",
    "meter",
    "micro_from_text",
    "micro_text",
    "next_step_down",
    "quantity_micro",
    "spec_violations",
    "start",
    "ticks_text",
    "tokens_at",
]

MAX_SECONDS = 10 * 366 * 86_400
"""The longest period or hold: ten years."""
MAX_LADDER = 16
"""The most tiers of a ladder (its first is the level of a compliant party)."""
MAX_SHARED = 16
"""The most parties an obligation is shared with."""

_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_METRIC = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_TIER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ONE_US = timedelta(microseconds=1)
_MAX_UNIT = 32
_LAST_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // _ONE_US


# --------------------------------------------------------------------------------------------------
# The obligation's terms
# --------------------------------------------------------------------------------------------------


def _pattern(value: object, field: str, pattern: re.Pattern[str], form: str) -> list[Violation]:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return [Violation(field, "pattern", f"{field}: {value!r:.80} does not match {form}")]
    return []


def check_obligation_id(value: object, field: str = "obligation") -> list[Violation]:
    """Violations of an obligation id ``[a-z0-9][a-z0-9._-]{0,63}`` (empty when valid)."""
    return _pattern(value, field, _ID, "[a-z0-9][a-z0-9._-]{0,63}")


def check_metric(value: object, field: str = "metric") -> list[Violation]:
    """Violations of a metric name ``[a-z][a-z0-9_.]{0,63}`` (an agenda issue name is one)."""
    return _pattern(value, field, _METRIC, "[a-z][a-z0-9_.]{0,63}")


def _unit(value: object, field: str) -> list[Violation]:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_UNIT or not value.isprintable():
        return [Violation(field, "length", f"{field}: expected 1 to {_MAX_UNIT} printable characters")]
    return []


def _seconds(value: object, field: str, least: int) -> list[Violation]:
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= MAX_SECONDS:
        return [Violation(field, "range", f"{field}: expected whole seconds from {least} to {MAX_SECONDS}")]
    return []


def _names(values: object, field: str, check: re.Pattern[str], least: int, most: int) -> list[Violation]:
    if not isinstance(values, tuple) or not least <= len(values) <= most:
        return [Violation(field, "items", f"{field}: expected {least} to {most} names")]
    found: list[Violation] = []
    for index, value in enumerate(values):
        found += _pattern(value, f"{field}.{index}", check, check.pattern)
    if not found and len(set(values)) != len(values):
        found.append(Violation(field, "unique", f"{field}: duplicates"))
    return found


def _shared(values: object, party: object) -> list[Violation]:
    if not isinstance(values, tuple) or len(values) > MAX_SHARED:
        return [Violation("shared_with", "items", f"shared_with: expected at most {MAX_SHARED} parties")]
    found = [v for i, p in enumerate(values) for v in check_party_id(p, f"shared_with.{i}")]
    if not found and len(set(values)) != len(values):
        found.append(Violation("shared_with", "unique", "shared_with: duplicates"))
    if not found and party in values:
        found.append(Violation("shared_with", "bound_party", f"shared_with: {party} is the bound party"))
    return found


def _terms_violations(  # noqa: PLR0913 - the terms, by name
    *,
    obligation: object,
    party: object,
    metric: object,
    unit: object,
    period_seconds: object,
    ladder: object,
    hold_seconds: object,
    recovery_pct: object,
    shared_with: object,
) -> list[Violation]:
    found = check_obligation_id(obligation) + check_party_id(party) + check_metric(metric)
    found += _unit(unit, "unit") + _seconds(period_seconds, "period_seconds", 1)
    found += _names(ladder, "ladder", _TIER, 2, MAX_LADDER) + _seconds(hold_seconds, "hold_seconds", 1)
    if not isinstance(recovery_pct, int) or isinstance(recovery_pct, bool) or not 0 <= recovery_pct <= 100:
        found.append(Violation("recovery_pct", "range", "recovery_pct: expected an integer from 0 to 100"))
    return found + _shared(shared_with, party)


def spec_violations(  # noqa: PLR0913 - the terms, by name
    *,
    obligation: object,
    party: object,
    metric: object,
    unit: object,
    rate: object,
    burst: object,
    period_seconds: object,
    ladder: object,
    hold_seconds: object,
    recovery_pct: object,
    shared_with: object,
) -> list[Violation]:
    """Every violation of an obligation's terms as a command carries them (rate and burst: JSON numbers)."""
    found = quantity_micro(rate, "rate", positive=True)[1] + quantity_micro(burst, "burst", positive=True)[1]
    return found + _terms_violations(
        obligation=obligation,
        party=party,
        metric=metric,
        unit=unit,
        period_seconds=period_seconds,
        ladder=ladder,
        hold_seconds=hold_seconds,
        recovery_pct=recovery_pct,
        shared_with=shared_with,
    )


@dataclass(frozen=True, slots=True)
class ObligationSpec:
    """The terms of an obligation, and the tick arithmetic they imply.

    Attributes:
        obligation: Its id, unique in the track.
        party: The party bound (a delegation).
        metric: What is consumed (an agenda issue's name, or a metric of its own).
        unit: The metric's unit (the agenda issue's unit when the metric is one).
        rate: The sustained allowance, micro-units per period.
        burst: The bucket's capacity, micro-units.
        period_seconds: The period ``rate`` is per.
        ladder: The tiers, lowest first (level 0 is ``ladder[0]``, a compliant party).
        hold_seconds: How long a party stays within limits before each step down.
        recovery_pct: A step down also needs tokens >= this percentage of the burst.
        shared_with: Parties besides the mediator, the bound party and the
            inspectors who see the obligation (a counterparty, say).
        scale: Ticks per micro-unit (derived).
        refill: Ticks refilled per microsecond (derived).
        burst_ticks: The burst in ticks (derived).
        hold_us: The hold in microseconds (derived).
        threshold: ``recovery_pct * burst_ticks``, compared with ``100 * tokens`` (derived).

    Raises:
        SchemaViolationError: on construction, every bad field.
    """

    obligation: str
    party: str
    metric: str
    unit: str
    rate: int
    burst: int
    period_seconds: int
    ladder: tuple[str, ...]
    hold_seconds: int
    recovery_pct: int
    shared_with: tuple[str, ...] = ()
    scale: int = field(init=False, repr=False, compare=False)
    refill: int = field(init=False, repr=False, compare=False)
    burst_ticks: int = field(init=False, repr=False, compare=False)
    hold_us: int = field(init=False, repr=False, compare=False)
    threshold: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check every field; derive the tick arithmetic."""
        found = [
            Violation(name, "range", f"{name}: expected 1 to {MAX_QUANTITY} micro-units")
            for name, value in (("rate", self._raw("rate")), ("burst", self._raw("burst")))
            if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_QUANTITY
        ]
        found += _terms_violations(
            obligation=self.obligation,
            party=self.party,
            metric=self.metric,
            unit=self.unit,
            period_seconds=self.period_seconds,
            ladder=self.ladder,
            hold_seconds=self.hold_seconds,
            recovery_pct=self.recovery_pct,
            shared_with=self.shared_with,
        )
        if found:
            raise SchemaViolationError(found)
        period_us = self.period_seconds * MICRO
        common = math.gcd(self.rate, period_us)
        object.__setattr__(self, "scale", period_us // common)
        object.__setattr__(self, "refill", self.rate // common)
        object.__setattr__(self, "burst_ticks", self.burst * self.scale)
        object.__setattr__(self, "hold_us", self.hold_seconds * MICRO)
        object.__setattr__(self, "threshold", self.recovery_pct * self.burst_ticks)

    def _raw(self, name: str) -> object:
        value: object = getattr(self, name)  # may be anything until checked
        return value

    @property
    def top(self) -> int:
        """The highest level (the last tier)."""
        return len(self.ladder) - 1

    def tier(self, level: int) -> str:
        """The tier name of ``level``."""
        return self.ladder[level]

    def text(self, ticks: int, *, up: bool = False) -> str:
        """Ticks as decimal text in :attr:`unit` (see :func:`ticks_text`)."""
        return ticks_text(ticks, self.scale, up=up)


# --------------------------------------------------------------------------------------------------
# The bucket and the ladder
# --------------------------------------------------------------------------------------------------


class Bucket(NamedTuple):
    """The metering state of one obligation (immutable).

    Attributes:
        clock: The instant of the last update (µs since the epoch).
        tokens: Ticks at ``clock`` (negative: a debt).
        level: The ladder level.
        calm_since: The last overdraw or ladder step (µs); the hold counts from it.
    """

    clock: int
    tokens: int
    level: int
    calm_since: int


class StepDown(NamedTuple):
    """A step down the ladder at ``at`` (µs), with the tokens then and the instant the hold began."""

    at: int
    from_level: int
    to_level: int
    tokens: int
    held_since: int


class Metered(NamedTuple):
    """One metered record: its times (µs), amount (micro-units) and what it did (ticks, levels).

    ``available`` is the bucket after refill, before the consumption;
    ``tokens`` after it; ``overdraw`` is the part not covered (0: compliant).
    ``level`` is the level after it: ``from_level + 1`` on an overdraw below
    the top tier.
    """

    observed_at: int
    at: int
    amount: int
    available: int
    tokens: int
    overdraw: int
    from_level: int
    level: int


def start(spec: ObligationSpec, at: int) -> Bucket:
    """A new obligation's bucket at ``at`` (µs): full, level 0."""
    return Bucket(at, spec.burst_ticks, 0, at)


def tokens_at(spec: ObligationSpec, bucket: Bucket, at: int) -> int:
    """The bucket's ticks at ``at`` >= its clock: ``min(burst, tokens + refill * dt)``."""
    return min(spec.burst_ticks, bucket.tokens + spec.refill * (at - bucket.clock))


def next_step_down(spec: ObligationSpec, bucket: Bucket) -> int | None:
    """The instant (µs) of the next step down if nothing is consumed meanwhile; ``None`` at level 0."""
    if bucket.level == 0:
        return None
    need = spec.threshold - 100 * bucket.tokens
    ready = bucket.clock if need <= 0 else bucket.clock - (-need // (100 * spec.refill))
    return max(ready, bucket.calm_since + spec.hold_us)


def advance(spec: ObligationSpec, bucket: Bucket, until: int) -> tuple[Bucket, list[StepDown]]:
    """Take every step down due at or before ``until`` (µs), in order.

    Returns:
        The bucket after them (its clock at the last step, if any) and the steps.
    """
    downs: list[StepDown] = []
    while (due := next_step_down(spec, bucket)) is not None and due <= until:
        tokens = tokens_at(spec, bucket, due)
        downs.append(StepDown(due, bucket.level, bucket.level - 1, tokens, bucket.calm_since))
        bucket = Bucket(due, tokens, bucket.level - 1, due)
    return bucket, downs


def consume(
    spec: ObligationSpec, bucket: Bucket, at: int, amount: int, observed_at: int
) -> tuple[Bucket, Metered]:
    """Consume ``amount`` micro-units at ``at`` >= the bucket's clock (no steps down: see :func:`meter`)."""
    available = tokens_at(spec, bucket, at)
    cost = amount * spec.scale
    tokens = available - cost
    overdraw = min(cost, -tokens) if tokens < 0 else 0
    level, calm = bucket.level, bucket.calm_since
    if overdraw:
        level, calm = min(level + 1, spec.top), at
    metered = Metered(observed_at, at, amount, available, tokens, overdraw, bucket.level, level)
    return Bucket(at, tokens, level, calm), metered


def meter(
    spec: ObligationSpec, bucket: Bucket, observed_at: int, amount: int
) -> tuple[Bucket, list[StepDown], Metered]:
    """Meter one consumption record: the steps down due first, then the consumption.

    Args:
        spec: The obligation's terms.
        bucket: Its bucket.
        observed_at: When the consumption was observed (µs).
        amount: How much, in micro-units (>= 0).

    Returns:
        The new bucket, the steps down taken before the record (at or before
        its metering time ``max(observed_at, bucket.clock)``), and the record.
    """
    at = max(observed_at, bucket.clock)
    bucket, downs = advance(spec, bucket, at)
    bucket, metered = consume(spec, bucket, at, amount, observed_at)
    return bucket, downs, metered


# --------------------------------------------------------------------------------------------------
# What the track holds
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consumption:
    """An attested consumption record, the input of metering.

    Attributes:
        metric: The metric consumed.
        amount: Micro-units of the metric's unit (>= 0).
        unit: The unit the amount is in.
        observed_at: When it was observed.
        source: What attests it (an attestation id, a report reference), or ``None``.
        party: The party whose consumption it is; ``None`` meters every
            obligation on the metric (see ``obligation_rules.meter_attested``).
    """

    metric: str
    amount: int
    unit: str
    observed_at: datetime
    source: str | None = None
    party: str | None = None


@dataclass(frozen=True, slots=True)
class LadderStep:
    """One step on the ladder, as the log recorded it.

    Attributes:
        effective_at: When the level changed (the overdraw's metering time, or
            the computed instant of a step down).
        from_level: The level before.
        to_level: The level after.
        decided_at: When the service decided it.
        command_digest: The command that recorded it (for a step up: the
            consumption or attestation that overdrew).
        source: That record's ``source`` (step up), or ``None``.
        overdraw: The overdraw as decimal text, rounded up (step up), or ``None``.
        tokens: The tokens at ``effective_at`` as decimal text, rounded down
            (after the consumption, for a step up).
        observed_at: For a step up, when the consumption was observed; else ``None``.
        held_since: For a step down, the instant the hold began; else ``None``.
    """

    effective_at: datetime
    from_level: int
    to_level: int
    decided_at: datetime
    command_digest: bytes
    source: str | None
    overdraw: str | None
    tokens: str
    observed_at: datetime | None
    held_since: datetime | None


@dataclass(frozen=True, slots=True)
class ObligationRecord:
    """An obligation in a track: its terms, bucket, counters and ladder history.

    Attributes:
        spec: The terms.
        defined_at: When it was defined (the bucket started full then).
        defined_by: The mediator principal who defined it.
        bucket: The bucket after the last event.
        steps: Every ladder step, in order.
        records: How many consumption records were metered.
        consumed: Their total, micro-units.
        overdraws: How many of them overdrew.
    """

    spec: ObligationSpec
    defined_at: datetime
    defined_by: str
    bucket: Bucket
    steps: tuple[LadderStep, ...] = ()
    records: int = 0
    consumed: int = 0
    overdraws: int = 0

    @property
    def level(self) -> int:
        """The current level."""
        return self.bucket.level

    @property
    def tier(self) -> str:
        """The current tier's name."""
        return self.spec.tier(self.bucket.level)

    def tokens(self, at: datetime) -> int:
        """The bucket's ticks at ``at`` (at or after its clock)."""
        return tokens_at(self.spec, self.bucket, max(instant_us(at), self.bucket.clock))

    def next_step_down(self) -> datetime | None:
        """When the next step down is due if nothing is consumed meanwhile.

        ``None`` at level 0, and when it is due after the last instant a
        ``datetime`` holds (a debt the refill repays only after year 9999).
        """
        due = next_step_down(self.spec, self.bucket)
        return None if due is None or due > _LAST_US else instant_of(due)
