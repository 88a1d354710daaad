"""Commands of the attestation feature: ``define_metric`` and ``file_attestation``.

Like every command (:mod:`backchannel.domain.commands`), construction checks
the *shape* of every field and raises one
:class:`~backchannel.domain.errors.SchemaViolationError` listing each
malformed field; whether the command is *allowed* is decided by
:mod:`~backchannel.domain.agreements.attestations`.

Every command subclasses :class:`~backchannel.domain.command_envelope.CommandEnvelope`,
the envelope (``track``, ``member``, ``key_id``, ``issued_at``, ``digest``,
``idempotency_key``) all commands share.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

from backchannel.domain.agreements.quorum import ToleranceKind
from backchannel.domain.command_envelope import CommandEnvelope
from backchannel.domain.errors import Violation
from backchannel.domain.ids import (
    check_party_id,
)
from backchannel.domain.keys import is_aware

__all__ = [
    "MAX_INSPECTORS",
    "MAX_WINDOW_SECONDS",
    "DefineMetric",
    "FileAttestation",
    "check_metric_name",
    "check_site",
    "number_violations",
    "text_violations",
]

MAX_INSPECTORS = 32
"""At most this many inspector parties on a metric's panel."""
MAX_WINDOW_SECONDS = 366 * 86400
"""The longest observation window (a leap year)."""
_METRIC = re.compile(r"[a-z][a-z0-9_]{0,31}(\.[a-z][a-z0-9_]{0,31}){0,7}")
_SITE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_UNIT_MAX = 32


def check_metric_name(value: object, field: str = "metric") -> list[Violation]:
    """Violations of a metric name: dotted lowercase segments, ``iaea.enrichment_pct`` (empty when valid)."""
    if not isinstance(value, str) or not _METRIC.fullmatch(value):
        return [Violation(field, "pattern", f"{field}: {str(value)[:80]!r} is not a dotted metric name")]
    return []


def check_site(value: object, field: str = "site") -> list[Violation]:
    """Violations of a site id ``[a-z0-9][a-z0-9._-]{0,63}`` (empty when valid)."""
    if not isinstance(value, str) or not _SITE.fullmatch(value):
        return [
            Violation(
                field, "pattern", f"{field}: {str(value)[:80]!r} does not match [a-z0-9][a-z0-9._-]{{0,63}}"
            )
        ]
    return []


def number_violations(value: object, field: str, *, minimum: float | None = None) -> list[Violation]:
    """Violations of a finite number (not a boolean), at least ``minimum`` if given."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return [Violation(field, "type", f"{field}: expected a finite number, got {value!r:.80}")]
    if minimum is not None and value < minimum:
        return [Violation(field, "minimum", f"{field}: expected a number >= {minimum}, got {value!r}")]
    return []


def text_violations(value: object, field: str, max_length: int) -> list[Violation]:
    """Violations of text of 1 to ``max_length`` characters."""
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        return [Violation(field, "length", f"{field}: expected text of 1 to {max_length} characters")]
    return []


def _integer(value: object, name: str, low: int, high: int) -> list[Violation]:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        return [
            Violation(name, "range", f"{name}: expected an integer from {low} to {high}, got {value!r:.80}")
        ]
    return []


def party_list_violations(values: object, name: str, maximum: int) -> list[Violation]:
    """Violations of a tuple of 1 to ``maximum`` distinct party ids."""
    if not isinstance(values, tuple):
        return [Violation(name, "type", f"{name}: expected a tuple")]
    if not 0 < len(values) <= maximum:
        return [Violation(name, "items", f"{name}: expected 1 to {maximum} parties")]
    found = [v for i, p in enumerate(values) for v in check_party_id(p, f"{name}.{i}")]
    if not found and len(set(values)) != len(values):
        found.append(Violation(name, "unique", f"{name}: duplicates"))
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class DefineMetric(CommandEnvelope):
    """Define ``metric`` and its quorum rule (mediator principal; once per metric name).

    Attributes:
        metric: The dotted metric name (``iaea.enrichment_pct``).
        unit: The unit every attestation of it must name (``%``).
        issue: The agenda number issue it measures, or ``None``; if given,
            ``unit`` must be that issue's unit.
        inspectors: The inspector parties that may attest it (k of them).
        quorum: How many of them must agree (m, 1 <= m <= k).
        tolerance: How far apart agreeing values may be (>= 0; <= 1 if relative).
        tolerance_kind: ``absolute`` (in ``unit``) or ``relative`` (a fraction).
        window_seconds: The observation window, epoch-aligned (86400: the UTC day).
    """

    metric: str
    unit: str
    issue: str | None
    inspectors: tuple[str, ...]
    quorum: int
    tolerance: float
    tolerance_kind: ToleranceKind
    window_seconds: int

    def _violations(self) -> list[Violation]:
        found = check_metric_name(self.metric) + text_violations(self.unit, "unit", _UNIT_MAX)
        if self.issue is not None:
            found += text_violations(self.issue, "issue", 64)
        panel = party_list_violations(self.inspectors, "inspectors", MAX_INSPECTORS)
        k = MAX_INSPECTORS if panel else len(self.inspectors)
        found += panel + _integer(self.quorum, "quorum", 1, k)
        tolerance = number_violations(self.tolerance, "tolerance", minimum=0)
        kind: object = self.tolerance_kind
        if not isinstance(kind, str) or kind not in set(ToleranceKind):
            found.append(
                Violation(
                    "tolerance_kind",
                    "one_of",
                    f"tolerance_kind: {kind!r:.40} is not one of absolute, relative",
                )
            )
        else:
            object.__setattr__(self, "tolerance_kind", ToleranceKind(kind))
            if kind == ToleranceKind.RELATIVE and not tolerance and self.tolerance > 1:
                tolerance.append(
                    Violation("tolerance", "maximum", "tolerance: a relative tolerance is at most 1")
                )
        found += tolerance
        return found + _integer(self.window_seconds, "window_seconds", 1, MAX_WINDOW_SECONDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileAttestation(CommandEnvelope):
    """File a measurement of ``metric`` (a principal or delegate of an inspector party on its panel).

    Attributes:
        metric: The metric's name (defined with :class:`DefineMetric`).
        value: The measured value, a finite number in ``unit``.
        unit: Must be the metric's unit.
        observed_at: When it was observed (aware; not after decision time + a small skew).
        site: Where (``natanz``).
    """

    metric: str
    value: float
    unit: str
    observed_at: datetime
    site: str

    def _violations(self) -> list[Violation]:
        found = check_metric_name(self.metric) + number_violations(self.value, "value")
        found += text_violations(self.unit, "unit", _UNIT_MAX)
        if not is_aware(self.observed_at):
            found.append(Violation("observed_at", "type", "observed_at: expected an aware time"))
        return found + check_site(self.site)
