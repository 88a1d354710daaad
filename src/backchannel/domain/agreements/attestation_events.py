"""Attestation events: a metric defined, an attestation filed, a quorum reached, a conflict flagged.

Re-exported by :mod:`backchannel.domain.events`, whose encodings they follow
(strict ``from_dict``, instants as UTC text, digests as hex). An
attestation's id is its command's digest in hex (:attr:`AttestationFiled.attestation_id`).

This module does not decide or apply anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from backchannel.domain._event_base import Decoding, Recorded, open_event
from backchannel.domain._json import Reader
from backchannel.domain.agreements.attestation_commands import check_metric_name, check_site
from backchannel.domain.agreements.quorum import ToleranceKind
from backchannel.domain.ids import check_message_id, check_party_id, message_id_of
from backchannel.domain.keys import time_text
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = ["AttestationConflictFlagged", "AttestationFiled", "AttestationQuorumReached", "MetricDefined"]


def read_number(reader: Reader, name: str, where: str) -> float:
    """A JSON number (not a boolean) from ``reader``."""
    value = reader.raw(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise EncodingError(f"{where}.{name}: expected a number, got {value!r:.80}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDefined(Recorded):
    """Metric ``metric`` was defined with its unit and quorum rule (see :class:`DefineMetric`)."""

    type: ClassVar[str] = "metric.defined"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"metric", "unit", "issue", "inspectors", "quorum", "tolerance", "tolerance_kind", "window_seconds"}
    )
    metric: str
    unit: str
    issue: str | None
    inspectors: tuple[str, ...]
    quorum: int
    tolerance: float
    tolerance_kind: ToleranceKind
    window_seconds: int

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "metric": self.metric,
            "unit": self.unit,
            "issue": self.issue,
            "inspectors": list(self.inspectors),
            "quorum": self.quorum,
            "tolerance": self.tolerance,
            "tolerance_kind": self.tolerance_kind.value,
            "window_seconds": self.window_seconds,
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> MetricDefined:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            issue = r.raw("issue")
            return cls(
                **common,
                metric=r.checked("metric", check_metric_name),
                unit=r.text("unit", 32),
                issue=None if issue is None else r.text("issue", 64),
                inspectors=r.checked_list("inspectors", check_party_id),
                quorum=r.integer("quorum", 1),
                tolerance=read_number(r, "tolerance", cls.type),
                tolerance_kind=r.kind("tolerance_kind", ToleranceKind),
                window_seconds=r.integer("window_seconds", 1),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestationFiled(Recorded):
    """Inspector member ``by`` attested ``value`` ``unit`` of ``metric`` at ``site``.

    The value was observed at ``observed_at``.

    ``window_start`` is the start of the metric's observation window that holds ``observed_at``.
    """

    type: ClassVar[str] = "attestation.filed"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"metric", "value", "unit", "observed_at", "site", "window_start"}
    )
    metric: str
    value: float
    unit: str
    observed_at: datetime
    site: str
    window_start: datetime

    @property
    def attestation_id(self) -> str:
        """The attestation's id: the hex of its command digest."""
        return message_id_of(self.command_digest)

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "metric": self.metric,
            "value": self.value,
            "unit": self.unit,
            "observed_at": time_text(self.observed_at),
            "site": self.site,
            "window_start": time_text(self.window_start),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> AttestationFiled:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                metric=r.checked("metric", check_metric_name),
                value=read_number(r, "value", cls.type),
                unit=r.text("unit", 32),
                observed_at=r.time("observed_at"),
                site=r.checked("site", check_site),
                window_start=r.time("window_start"),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestationQuorumReached(Recorded):
    """Enough inspectors agreed on ``metric`` at ``site`` in the window from ``window_start``.

    ``value`` is what counts (the cluster's low median); ``attestations`` are the
    agreeing attestations' ids, ``parties`` their inspector parties (same order).
    """

    type: ClassVar[str] = "attestation.quorum_reached"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"metric", "site", "window_start", "value", "unit", "attestations", "parties"}
    )
    metric: str
    site: str
    window_start: datetime
    value: float
    unit: str
    attestations: tuple[str, ...]
    parties: tuple[str, ...]

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "metric": self.metric,
            "site": self.site,
            "window_start": time_text(self.window_start),
            "value": self.value,
            "unit": self.unit,
            "attestations": list(self.attestations),
            "parties": list(self.parties),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> AttestationQuorumReached:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                metric=r.checked("metric", check_metric_name),
                site=r.checked("site", check_site),
                window_start=r.time("window_start"),
                value=read_number(r, "value", cls.type),
                unit=r.text("unit", 32),
                attestations=r.checked_list("attestations", check_message_id),
                parties=r.checked_list("parties", check_party_id),
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttestationConflictFlagged(Recorded):
    """Attestation ``attestation`` disagrees with ``conflicts_with`` (same metric, site and window).

    Both sides stay recorded, side by side: nothing is overwritten.
    """

    type: ClassVar[str] = "attestation.conflict_flagged"
    _FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"metric", "site", "window_start", "attestation", "conflicts_with"}
    )
    metric: str
    site: str
    window_start: datetime
    attestation: str
    conflicts_with: tuple[str, ...]

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON form."""
        return {
            **self.common_dict(),
            "metric": self.metric,
            "site": self.site,
            "window_start": time_text(self.window_start),
            "attestation": self.attestation,
            "conflicts_with": list(self.conflicts_with),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> AttestationConflictFlagged:
        """Decode strictly. Raises: EncodingError: naming the bad field."""
        with Decoding(cls.type):
            r, common = open_event(value, cls.type, cls._FIELDS)
            return cls(
                **common,
                metric=r.checked("metric", check_metric_name),
                site=r.checked("site", check_site),
                window_start=r.time("window_start"),
                attestation=r.checked("attestation", check_message_id),
                conflicts_with=r.checked_list("conflicts_with", check_message_id),
            )
