"""Counted attestations meter an obligation exactly as ``record_consumption`` does (ADR-0018's seam).

For a random obligation and a random stream of ``(observed at, amount)``
records (some observed before the previous one), two tracks are driven
through the pure domain (``decide`` + ``evolve``):

- in one, both inspectors of a 2-of-2 panel attest each amount (each record
  at a site of its own, so every record is one newly counted value);
- in the other, an inspector records the same amounts with ``record_consumption``.

The ladder history (every step up and down, with its times and levels), the
metering of every record and the final bucket are the same.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from hypothesis import event, given, settings
from hypothesis import strategies as st

from backchannel.domain import (
    AdmitParty,
    Command,
    DefineObligation,
    Event,
    NewKey,
    OpenTrack,
    PartyKind,
    RecordConsumption,
    TrackState,
    decide,
    ed25519_key_id,
    evolve,
)
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.obligation_events import ObligationMetered
from backchannel.domain.agreements.obligations import MICRO, instant_of, instant_us, micro_text

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
US = 1_000_000
MEMBERS = ("med/chair", "med/service", "iran/lead", "iaea/lead", "euratom/lead")


def key(seed: str) -> NewKey:
    ed = hashlib.sha256(b"ed/" + seed.encode()).digest()
    return NewKey(ed25519_key_id(ed), ed, hashlib.sha256(b"x/" + seed.encode()).digest())


KEYS = {m: key(m) for m in MEMBERS}


class Track:
    """Mediator med, delegation iran, inspectors iaea and euratom; metric ``m`` (kg, 2 of 2); obligation ``o``."""

    def __init__(self, terms: dict[str, object]) -> None:
        self.now = T0
        self.state: TrackState | None = None
        self.events: list[Event] = []
        self.count = 0
        keys = {"principal_key": KEYS["med/chair"], "service_key": KEYS["med/service"]}
        self.run(OpenTrack, "med/chair", title="T", **keys)
        for party, kind in (
            ("iran", PartyKind.DELEGATION),
            ("iaea", PartyKind.INSPECTOR),
            ("euratom", PartyKind.INSPECTOR),
        ):
            self.run(
                AdmitParty, "med/chair", party=party, kind=kind, principal=f"{party}/lead",
                principal_key=KEYS[f"{party}/lead"],
            )  # fmt: skip
        self.run(
            DefineMetric, "med/chair", metric="m", unit="kg", issue=None, inspectors=("iaea", "euratom"),
            quorum=2, tolerance=0, tolerance_kind="absolute", window_seconds=86_400,
        )  # fmt: skip
        self.run(DefineObligation, "med/chair", **terms)

    def run(self, kind: type[Command], member: str, /, **fields: object) -> list[Event]:
        self.count += 1
        command = kind(
            track="t", member=member, key_id=KEYS[member].key_id, issued_at=self.now,
            digest=hashlib.sha256(f"c{self.count}".encode()).digest(), **fields,
        )  # fmt: skip
        events = decide(self.state, command, self.now)
        for one in events:
            self.state = evolve(self.state, one)
        self.events += events
        return events

    def attest(self, index: int, observed: int, amount: int) -> None:
        self.now = max(self.now, instant_of(observed))
        for inspector in ("iaea/lead", "euratom/lead"):
            self.run(
                FileAttestation, inspector, metric="m", value=float(micro_text(amount)), unit="kg",
                observed_at=instant_of(observed), site=f"s{index}",
            )  # fmt: skip

    def record(self, observed: int, amount: int) -> None:
        self.now = max(self.now, instant_of(observed))
        self.run(
            RecordConsumption, "iaea/lead", obligation="o", amount=float(micro_text(amount)), unit="kg",
            observed_at=instant_of(observed), source=None,
        )  # fmt: skip

    def history(self) -> list[tuple[object, ...]]:
        """Every metering and ladder step the events tell, without who or what caused it."""
        out: list[tuple[object, ...]] = []
        for e in self.events:
            if isinstance(e, ObligationMetered):
                out.append(
                    (
                        e.type,
                        e.amount,
                        e.observed_at,
                        e.metered_at,
                        e.available,
                        e.tokens,
                        e.overdraw,
                        e.level,
                    )
                )
            elif e.type in {"obligation.escalated", "obligation.deescalated"}:
                out.append((e.type, e.effective_at, e.from_level, e.to_level, e.tokens))  # type: ignore[union-attr]
        return out


quantities = st.one_of(st.integers(1, 50).map(lambda n: n * MICRO), st.integers(1, 10**9))


@st.composite
def terms(draw: st.DrawFn) -> dict[str, object]:
    return {
        "obligation": "o",
        "party": "iran",
        "metric": "m",
        "unit": "kg",
        "rate": float(micro_text(draw(quantities))),
        "burst": float(micro_text(draw(quantities))),
        "period_seconds": draw(st.sampled_from([60, 3600, 86_400, 30 * 86_400])),
        "ladder": ("t0", "t1", "t2", "t3"),
        "hold_seconds": draw(st.sampled_from([60, 3600, 14 * 86_400])),
        "recovery_pct": draw(st.integers(0, 100)),
        "shared_with": (),
    }


@st.composite
def streams(draw: st.DrawFn) -> list[tuple[int, int]]:
    t = instant_us(T0)
    out = []
    for _ in range(draw(st.integers(0, 15))):
        t += draw(st.one_of(st.just(0), st.integers(0, 3 * 86_400 * US), st.integers(-3600 * US, 0)))
        amount = draw(st.one_of(st.just(0), st.integers(0, 60 * MICRO), st.integers(0, 10**15 - 1)))
        out.append((t, amount))
    return out


@given(terms=terms(), records=streams())
@settings(max_examples=60)
def test_counted_attestations_give_the_history_of_recorded_consumption(
    terms: dict[str, object], records: list[tuple[int, int]]
) -> None:
    attested, recorded = Track(terms), Track(terms)
    for index, (observed, amount) in enumerate(records):
        attested.attest(index, observed, amount)
        recorded.record(observed, amount)
    assert attested.history() == recorded.history()
    event(f"{len([h for h in recorded.history() if h[0] == 'obligation.escalated'])} steps up")
    assert len([h for h in attested.history() if h[0] == "obligation.metered"]) == len(records)
    assert attested.state is not None
    assert recorded.state is not None
    a, r = attested.state.obligations["o"], recorded.state.obligations["o"]
    assert (a.bucket, a.records, a.consumed, a.overdraws) == (r.bucket, r.records, r.consumed, r.overdraws)
    assert [(s.effective_at, s.from_level, s.to_level) for s in a.steps] == [
        (s.effective_at, s.from_level, s.to_level) for s in r.steps
    ]
