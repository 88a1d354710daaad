"""Benchmark section: escrow condition checks per second (pure domain, ADR-0017).

Run alone with ``python bench/_escrow.py [--quick]``; ``run(quick)`` returns the
summary rows for the agreements benchmark driver.

The track is built through the domain's own ``decide``/``evolve`` (no I/O):
delegations usa, iran and uk, inspectors iaea and euratom, two metrics
(``iaea.enrichment_pct`` and ``iaea.stockpile_kg``, quorum 2 of 2, daily
windows), and 90 days of attestations by both inspectors at two sites each
(so 360 counted values, 1,440 attestations). The escrow holds one item, needs
2 of 3 signers (usa, uk, qatar; two have signed) and two predicates over
30-day windows. A check (:func:`~backchannel.domain.agreements.escrow_book.check_escrow`)
evaluates both predicates (up to 30 windows each, both sites) and the
signatures and builds the summary text; it is timed in a loop at a fixed
decision time.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from _report import Row, count, figure, heading, note, print_context
from backchannel.domain import (
    AdmitParty,
    NewKey,
    OpenTrack,
    PartyKind,
    TrackState,
    decide,
    ed25519_key_id,
    evolve,
)
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.escrow_book import check_escrow
from backchannel.domain.agreements.escrow_commands import OpenEscrow, SignEscrowRelease
from backchannel.domain.agreements.escrow_terms import EscrowItem, EscrowTerms

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
DAYS = 90
SITES = ("natanz", "fordow")
METRICS = (("iaea.enrichment_pct", "%", 3.6, 3.67), ("iaea.stockpile_kg", "kg", 250.0, 300.0))


class _World:
    def __init__(self) -> None:
        self.state: TrackState | None = None
        self.now = T0
        self.counter = itertools.count()
        self.keys: dict[str, NewKey] = {}

    def key(self, member: str) -> NewKey:
        if member not in self.keys:
            ed = hashlib.sha256(member.encode()).digest()
            self.keys[member] = NewKey(ed25519_key_id(ed), ed, hashlib.sha256(b"x" + ed).digest(), None)
        return self.keys[member]

    def run(self, command_type: type, member: str, /, **fields: object) -> None:
        command = command_type(
            track="bench", member=member, key_id=self.key(member).key_id, issued_at=self.now,
            digest=hashlib.sha256(f"c{next(self.counter)}".encode()).digest(), **fields,
        )  # fmt: skip
        for event in decide(self.state, command, self.now):
            self.state = evolve(self.state, event)


def build() -> tuple[TrackState, datetime, int]:
    """The benchmark's track state, the decision time and the number of counted values."""
    w = _World()
    w.run(
        OpenTrack,
        "qatar/chair",
        title="B",
        principal_key=w.key("qatar/chair"),
        service_key=w.key("qatar/service"),
    )
    parties = {"usa": PartyKind.DELEGATION, "iran": PartyKind.DELEGATION, "uk": PartyKind.DELEGATION}
    parties |= {"iaea": PartyKind.INSPECTOR, "euratom": PartyKind.INSPECTOR}
    for party, kind in parties.items():
        principal = f"{party}/lead"
        w.run(
            AdmitParty,
            "qatar/chair",
            party=party,
            kind=kind,
            principal=principal,
            principal_key=w.key(principal),
        )
    for metric, unit, _, _ in METRICS:
        w.run(
            DefineMetric, "qatar/chair", metric=metric, unit=unit, issue=None, inspectors=("iaea", "euratom"),
            quorum=2, tolerance=0.05, tolerance_kind="relative", window_seconds=86400,
        )  # fmt: skip
    w.now = T0 + DAYS * DAY
    for back in range(DAYS, 0, -1):
        for metric, unit, value, _ in METRICS:
            for site in SITES:
                for inspector in ("iaea", "euratom"):
                    w.run(FileAttestation, f"{inspector}/lead", metric=metric, value=value, unit=unit,
                          observed_at=w.now - back * DAY, site=site)  # fmt: skip
    terms = EscrowTerms(
        escrow_id="assets",
        items=(EscrowItem("frozen assets", 6e9, "USD", "usa", "iran"),),
        signers=("usa", "uk", "qatar"),
        threshold=2,
        predicates=tuple(f"{metric} <= {bound} sustained for 30 days" for metric, _, _, bound in METRICS),
        expires_at=w.now + 365 * DAY,
    )
    w.run(OpenEscrow, "qatar/chair", terms=terms, escrow_digest=b"\x01" * 32)
    for signer in ("usa/lead", "uk/lead"):
        w.run(SignEscrowRelease, signer, escrow_id="assets", escrow_digest=b"\x01" * 32)
    assert w.state is not None
    counted = sum(len(v) for v in w.state.attestations.counted.values())
    return w.state, w.now, counted


def run(quick: bool) -> list[Row]:
    """Measure escrow condition checks per second; return the summary row."""
    heading("Escrow condition checks (pure domain)")
    state, now, counted = build()
    record = state.escrows.get("assets")
    assert record is not None
    book = state.attestations
    result = check_escrow(record, book, now)
    assert result.releasable, result.reason
    figure("counted values (2 metrics x 2 sites x 90 days)", count(counted))
    note(result.reason)
    n = 2_000 if quick else 20_000
    for _ in range(min(n, 500)):  # warm-up
        check_escrow(record, book, now)
    started = time.perf_counter()
    for _ in range(n):
        check_escrow(record, book, now)
    elapsed = time.perf_counter() - started
    rate = n / elapsed
    figure(f"checks ({n:,})", f"{elapsed * 1000:,.0f} ms")
    figure("escrow condition checks / s", count(rate))
    figure("per check", f"{elapsed / n * 1e6:,.1f} us")
    metric = "escrow condition checks / s (3 signers, 2 predicates x 30 days)"
    return [Row(metric, count(rate), value=rate)]


def main(argv: Sequence[str]) -> None:
    """Run the section alone and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke run)")
    args = parser.parse_args(argv)
    print_context("escrow benchmark", "quick" if args.quick else "full")
    for row in run(args.quick):
        print(f"  {row.metric}: {row.ours}")


if __name__ == "__main__":
    main(sys.argv[1:])
