"""Helpers for the attestation and escrow domain tests, on top of ``track_world``.

:func:`compliance` populates a world and adds a second inspector ``euratom``
and the metric ``iaea.enrichment_pct`` (unit %, panel iaea + euratom, quorum
2, absolute tolerance 0.1, daily windows).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from track_world import World, populate

from backchannel.domain import PartyKind
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.escrow_commands import (
    ExpireEscrow,
    OpenEscrow,
    ReleaseEscrow,
    SignEscrowRelease,
)
from backchannel.domain.agreements.escrow_terms import EscrowItem, EscrowTerms
from backchannel.domain.events import Event

METRIC = "iaea.enrichment_pct"
PREDICATE = "iaea.enrichment_pct <= 3.67 sustained for 30 days"
DAY = timedelta(days=1)


def define(w: World, metric: str = METRIC, by: str = "med/chair", **fields: Any) -> list[Event]:
    body: dict[str, Any] = {
        "metric": metric,
        "unit": "%",
        "issue": None,
        "inspectors": ("iaea", "euratom"),
        "quorum": 2,
        "tolerance": 0.1,
        "tolerance_kind": "absolute",
        "window_seconds": 86400,
    }
    body.update(fields)
    return w.run(w.cmd(DefineMetric, by, **body))


def attest_cmd(
    w: World, by: str, value: float, observed_at: datetime | None = None, **fields: Any
) -> FileAttestation:
    body: dict[str, Any] = {
        "metric": METRIC,
        "value": value,
        "unit": "%",
        "observed_at": observed_at or w.now,
        "site": "natanz",
    }
    body.update(fields)
    command = w.cmd(FileAttestation, by, **body)
    assert isinstance(command, FileAttestation)
    return command


def attest(
    w: World, by: str, value: float, observed_at: datetime | None = None, **fields: Any
) -> list[Event]:
    return w.run(attest_cmd(w, by, value, observed_at, **fields))


def compliance(w: World | None = None) -> World:
    w = populate(w or World())
    w.admit("euratom", PartyKind.INSPECTOR)
    define(w)
    return w


def terms(w: World, escrow_id: str = "assets", **fields: Any) -> EscrowTerms:
    values: dict[str, Any] = {
        "escrow_id": escrow_id,
        "items": (EscrowItem("frozen assets", 6_000_000_000, "USD", "usa", "iran"),),
        "signers": ("usa", "med"),
        "threshold": 2,
        "predicates": (PREDICATE,),
        "expires_at": w.now + 90 * DAY,
    }
    values.update(fields)
    return EscrowTerms(**values)


def digest_of(t: EscrowTerms) -> bytes:
    return hashlib.sha256(repr(t.to_dict()).encode()).digest()


def open_escrow(w: World, t: EscrowTerms | None = None, by: str = "med/chair") -> EscrowTerms:
    t = t or terms(w)
    w.run(w.cmd(OpenEscrow, by, terms=t, escrow_digest=digest_of(t)))
    return t


def sign(w: World, by: str, escrow_id: str = "assets", digest: bytes | None = None) -> list[Event]:
    record = w.s.escrows.get(escrow_id)
    if digest is None:
        assert record is not None
        digest = record.digest
    return w.run(w.cmd(SignEscrowRelease, by, escrow_id=escrow_id, escrow_digest=digest))


def release(w: World, by: str = "iran/lead", escrow_id: str = "assets") -> list[Event]:
    return w.run(w.cmd(ReleaseEscrow, by, escrow_id=escrow_id))


def expire(w: World, by: str = "med/service", escrow_id: str = "assets") -> list[Event]:
    return w.run(w.cmd(ExpireEscrow, by, escrow_id=escrow_id))


def daily_quorum(w: World, days: int, value: float = 3.6, *, end: datetime | None = None) -> None:
    """Both inspectors attest ``value`` for each of the ``days`` whole days before ``end`` (default: now)."""
    end = end or w.now
    for back in range(days, 0, -1):
        at = end - back * DAY
        attest(w, "iaea/lead", value, at)
        attest(w, "euratom/lead", value, at)
