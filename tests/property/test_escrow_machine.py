"""A stateful property test of escrow against a straightforward reference model.

Hypothesis drives the pure domain (``decide`` + ``evolve``) through random
interleavings of: time passing (hours at a time), daily attestations by two
inspectors (agreeing or not, today or back-dated), release signatures by
principals of signer and non-signer parties, release requests, and the
service's expiry. The model keeps its own counted values (the quorum of two
agreeing inspectors per day, whose low median is the lower value), evaluates
the predicate by walking days back, and predicts every outcome. The machine
checks, at every step:

- a release succeeds iff the model says the condition holds at that instant
  (open, before expiry, at least k signer parties signed, the predicate held
  for its window);
- a release never succeeds at or after expiry;
- a refund succeeds iff the escrow is open and expired: only after expiry and
  only if it was not released;
- released and refunded are final: nothing changes an escrow after either.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from datetime import UTC, datetime, timedelta

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from backchannel.domain import (
    AdmitParty,
    Command,
    NewKey,
    OpenTrack,
    PartyKind,
    TrackState,
    decide,
    ed25519_key_id,
    evolve,
)
from backchannel.domain.agreements.attestation_commands import DefineMetric, FileAttestation
from backchannel.domain.agreements.escrow_book import EscrowConditionError, EscrowStatus
from backchannel.domain.agreements.escrow_commands import (
    ExpireEscrow,
    OpenEscrow,
    ReleaseEscrow,
    SignEscrowRelease,
)
from backchannel.domain.agreements.escrow_events import EscrowRefunded, EscrowReleased
from backchannel.domain.agreements.escrow_terms import EscrowItem, EscrowTerms
from backchannel.errors import DomainError

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
BOUND = 3.67
VALUES = (3.5, 3.6, 3.9)  # pairwise more than the tolerance (0.05) apart
PRINCIPALS = ("usa/lead", "iran/lead", "med/chair")


def key(seed: str) -> NewKey:
    ed = hashlib.sha256(seed.encode()).digest()
    return NewKey(ed25519_key_id(ed), ed, hashlib.sha256(b"x" + seed.encode()).digest(), None)


class EscrowMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.state: TrackState | None = None
        self.counter = itertools.count()
        self.keys: dict[str, NewKey] = {}
        # the model
        self.attested: dict[tuple[str, int], float] = {}  # (inspector party, day) -> value
        self.signed: set[str] = set()
        self.status = EscrowStatus.OPEN
        self.closed_at: datetime | None = None

    # -- plumbing ------------------------------------------------------------------------------------

    def run(self, command_type: type[Command], member: str, **fields: object) -> list[object]:
        if member not in self.keys:
            self.keys[member] = key(member)
        command = command_type(
            track="t", member=member, key_id=self.keys[member].key_id, issued_at=self.now,
            digest=hashlib.sha256(f"c{next(self.counter)}".encode()).digest(), **fields,
        )  # fmt: skip
        events = decide(self.state, command, self.now)
        for item in events:
            self.state = evolve(self.state, item)
        return list(events)

    def record(self):  # type: ignore[no-untyped-def]
        assert self.state is not None
        found = self.state.escrows.get("e")
        assert found is not None
        return found

    # -- setup ---------------------------------------------------------------------------------------

    @initialize(
        threshold=st.integers(1, 2),
        window_days=st.integers(1, 4),
        expires_in_hours=st.integers(1, 24 * 12),
    )
    def setup(self, threshold: int, window_days: int, expires_in_hours: int) -> None:
        self.keys["med/chair"] = key("med/chair")
        self.keys["med/service"] = key("med/service")
        self.run(OpenTrack, "med/chair", title="T", principal_key=self.keys["med/chair"], service_key=self.keys["med/service"])  # fmt: skip
        for party, kind in (("usa", PartyKind.DELEGATION), ("iran", PartyKind.DELEGATION),
                            ("iaea", PartyKind.INSPECTOR), ("euratom", PartyKind.INSPECTOR)):  # fmt: skip
            self.keys[f"{party}/lead"] = key(f"{party}/lead")
            self.run(AdmitParty, "med/chair", party=party, kind=kind, principal=f"{party}/lead", principal_key=self.keys[f"{party}/lead"])  # fmt: skip
        self.run(
            DefineMetric, "med/chair", metric="iaea.u235", unit="%", issue=None, inspectors=("iaea", "euratom"),
            quorum=2, tolerance=0.05, tolerance_kind="absolute", window_seconds=86400,
        )  # fmt: skip
        self.threshold = threshold
        self.window_days = window_days
        self.expires_at = self.now + timedelta(hours=expires_in_hours)
        terms = EscrowTerms(
            escrow_id="e",
            items=(EscrowItem("assets", 6e9, "USD", "usa", "iran"),),
            signers=("usa", "med"),
            threshold=threshold,
            predicates=(f"iaea.u235 <= {BOUND} sustained for {window_days} days",),
            expires_at=self.expires_at,
        )
        self.run(OpenEscrow, "med/chair", terms=terms, escrow_digest=b"\x01" * 32)

    # -- the reference model -------------------------------------------------------------------------

    def day(self, at: datetime) -> int:
        return (at - datetime(1970, 1, 1, tzinfo=UTC)) // DAY

    def counted(self, day: int) -> float | None:
        a, b = self.attested.get(("iaea", day)), self.attested.get(("euratom", day))
        if a is None or b is None or abs(a - b) > 0.05:
            return None
        return min(a, b)

    def predicate_held_days(self) -> int:
        today = self.day(self.now)
        days = [self.counted(day) for day in range(today, today - 400, -1)]
        if days[0] is None:
            days = days[1:]
        held = 0
        for value in days:
            if value is None or value > BOUND:
                break
            held += 1
        return held

    def releasable(self) -> bool:
        needed = math.ceil(self.window_days)
        return (
            self.status is EscrowStatus.OPEN
            and self.now < self.expires_at
            and len(self.signed) >= self.threshold
            and self.predicate_held_days() >= needed
        )

    # -- rules ---------------------------------------------------------------------------------------

    @rule(hours=st.integers(1, 30))
    def wait(self, hours: int) -> None:
        self.now += timedelta(hours=hours)

    @rule(
        inspector=st.sampled_from(("iaea", "euratom")),
        value=st.sampled_from(VALUES),
        days_back=st.integers(0, 5),
    )
    def attest(self, inspector: str, value: float, days_back: int) -> None:
        at = self.now - days_back * DAY
        slot = (inspector, self.day(at))
        try:
            self.run(FileAttestation, f"{inspector}/lead", metric="iaea.u235", value=value, unit="%", observed_at=at, site="natanz")  # fmt: skip
        except DomainError:
            assert slot in self.attested  # the only refusal here: that party already attested that day
            return
        assert slot not in self.attested
        self.attested[slot] = value

    @rule(days=st.integers(1, 5), value=st.sampled_from((3.6, 3.6, 3.9)))
    def streak(self, days: int, value: float) -> None:
        """Both inspectors attest ``value`` for each of the last ``days`` days (where not done yet)."""
        for back in range(days, 0, -1):
            for inspector in ("iaea", "euratom"):
                self.attest(inspector, value, back)

    @rule(member=st.sampled_from(PRINCIPALS))
    def sign(self, member: str) -> None:
        party = member.split("/", maxsplit=1)[0]
        allowed = (
            party in {"usa", "med"}
            and party not in self.signed
            and self.status is EscrowStatus.OPEN
            and self.now < self.expires_at
        )
        try:
            self.run(SignEscrowRelease, member, escrow_id="e", escrow_digest=b"\x01" * 32)
        except DomainError:
            assert not allowed
            return
        assert allowed
        self.signed.add(party)

    @rule(member=st.sampled_from((*PRINCIPALS, "usa/lead")))
    def release(self, member: str) -> None:
        expected = self.releasable()
        try:
            events = self.run(ReleaseEscrow, member, escrow_id="e")
        except EscrowConditionError as e:
            event("release refused: condition unmet")
            assert not expected
            assert not e.check.releasable  # noqa: PT017 - a state machine step, not a test of one call
            return
        except DomainError:
            assert self.status is not EscrowStatus.OPEN  # only a closed escrow is refused otherwise
            return
        assert expected, "released although the model says the condition does not hold"
        assert self.now < self.expires_at
        assert [type(e) for e in events] == [EscrowReleased]
        event("released")
        self.status, self.closed_at = EscrowStatus.RELEASED, self.now

    @rule()
    def expire(self) -> None:
        due = self.status is EscrowStatus.OPEN and self.now >= self.expires_at
        try:
            events = self.run(ExpireEscrow, "med/service", escrow_id="e")
        except DomainError:
            assert not due
            return
        assert due
        assert [type(e) for e in events] == [EscrowRefunded]
        event("refunded")
        self.status, self.closed_at = EscrowStatus.REFUNDED, self.now

    # -- invariants ----------------------------------------------------------------------------------

    @invariant()
    def the_domain_agrees_with_the_model(self) -> None:
        if self.state is None:
            return
        record = self.record()
        assert record.status is self.status
        assert record.closed_at == self.closed_at
        assert set(record.signed_by) == self.signed
        if record.status is EscrowStatus.RELEASED:
            assert record.closed_at is not None
            assert record.closed_at < self.expires_at
        if record.status is EscrowStatus.REFUNDED:
            assert record.closed_at is not None
            assert record.closed_at >= self.expires_at


EscrowMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
test_escrow_machine = EscrowMachine.TestCase
