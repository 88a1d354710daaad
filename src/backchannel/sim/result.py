"""What one run did: :class:`RunResult` (the verdict, the SLO figures, the timeline).

This module only holds data; :mod:`backchannel.sim.run` fills it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backchannel.sim.faults import Fault

__all__ = ["RunResult"]


@dataclass
class RunResult:
    """What one run did.

    Attributes:
        scenario: The scenario's name.
        seed: The seed.
        faults: The fault schedule applied.
        root: The final checkpoint's root hash (hex).
        size: The final log size.
        commands: Command POSTs sent (including retries).
        virtual_seconds: Virtual time simulated.
        latencies: Priority -> acknowledgement latencies (seconds from queued to receipt).
        detect_silent: Seconds from a party going offline to the service showing it silent,
            one per offline window long enough to be detected.
        escalate: Seconds from a message being queued to its escalation, one per escalation.
        slo_misses: Each SLO figure over its objective, as ``what: value > objective``.
        violations: The invariants broken (empty when all hold).
        refused: Commands the service refused (4xx), as ``command: type: detail``.
        network: Requests that reached the service, duplicates it answered, late
            (reordered) arrivals, and (re)starts of the service.
        attacks: What each forged command got (the key-compromise move).
        takeovers: Moves an online member played for an absent one of its party.
        waits: Moves that waited for an absent member (the track went on).
        checks: Credentials re-verified during the run.
        backpressure: Commands a full queue held back (429; resent later, nothing appended).
        timeline: ``(virtual seconds, lane, kind, text)``, for the report.
    """

    scenario: str
    seed: int
    faults: list[Fault]
    root: str = ""
    size: int = 0
    commands: int = 0
    virtual_seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    detect_silent: list[float] = field(default_factory=list)
    escalate: list[float] = field(default_factory=list)
    slo_misses: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    network: dict[str, int] = field(default_factory=dict)
    attacks: list[str] = field(default_factory=list)
    takeovers: list[str] = field(default_factory=list)
    waits: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    backpressure: int = 0
    timeline: list[tuple[float, str, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (without the timeline: the report draws it)."""
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "faults": [f.to_dict() for f in self.faults],
            "root": self.root,
            "size": self.size,
            "commands": self.commands,
            "virtual_seconds": self.virtual_seconds,
            "latencies": self.latencies,
            "detect_silent_seconds": self.detect_silent,
            "escalate_seconds": self.escalate,
            "slo_misses": self.slo_misses,
            "violations": self.violations,
            "refused": self.refused,
            "network": self.network,
            "attacks": self.attacks,
            "takeovers": self.takeovers,
            "waits": self.waits,
            "checks": self.checks,
            "backpressure": self.backpressure,
        }
