"""Obligations under random attestation streams (ADR-0018).

- :class:`Reference` is a straightforward model of the rules: tokens as exact
  fractions of a unit, refill per microsecond, the ladder as a loop. The
  engine (integer ticks) must agree with it exactly: tokens, overdraws,
  levels and every ladder step.
- The same through the track domain (``decide`` + ``evolve``), as a
  Hypothesis state machine that interleaves records (some observed late),
  the passing of time and the service's reviews.
- Replaying a stream twice gives the same ladder history, and so does
  replaying it with reviews at random moments (a review only makes a due
  step visible sooner), with records in observed order.
- :func:`replay_consumption` (NumPy) equals the engine exactly.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from backchannel.domain import (
    AdmitParty,
    Command,
    DefineObligation,
    Event,
    NewKey,
    OpenTrack,
    PartyKind,
    RecordConsumption,
    ReviewObligation,
    TrackState,
    decide,
    ed25519_key_id,
    evolve,
)
from backchannel.domain.agreements.obligations import (
    MICRO,
    Bucket,
    ObligationSpec,
    instant_of,
    instant_us,
    meter,
    micro_text,
    start,
)
from backchannel.domain.agreements.obligations_vec import replay_consumption
from backchannel.domain.errors import TrackStateError

T0 = datetime(2026, 3, 1, tzinfo=UTC)
US = 1_000_000

# --------------------------------------------------------------------------------------------------
# The reference model
# --------------------------------------------------------------------------------------------------


@dataclass
class Reference:
    """The rules of ADR-0018, written as plainly as possible (fractions of a micro-unit, µs)."""

    rate: Fraction  # micro-units per µs
    burst: Fraction
    top: int
    hold: int  # µs
    target: Fraction  # tokens needed to step down
    clock: int
    tokens: Fraction = field(init=False)
    level: int = 0
    calm: int = field(init=False)
    history: list[tuple[str, int, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tokens = self.burst
        self.calm = self.clock

    @classmethod
    def of(cls, spec: ObligationSpec, at: int) -> Reference:
        return cls(
            rate=Fraction(spec.rate, spec.period_seconds * US),
            burst=Fraction(spec.burst),
            top=len(spec.ladder) - 1,
            hold=spec.hold_seconds * US,
            target=Fraction(spec.recovery_pct, 100) * spec.burst,
            clock=at,
        )

    def tokens_at(self, t: int) -> Fraction:
        return min(self.burst, self.tokens + self.rate * (t - self.clock))

    def due(self) -> int | None:
        if self.level == 0:
            return None
        ready = self.clock
        if self.tokens < self.target:
            ready = self.clock + math.ceil((self.target - self.tokens) / self.rate)
        return max(ready, self.calm + self.hold)

    def advance(self, until: int) -> None:
        while (when := self.due()) is not None and when <= until:
            self.tokens, self.clock = self.tokens_at(when), when
            self.history.append(("down", when, self.level, self.level - 1))
            self.level -= 1
            self.calm = when

    def record(self, observed: int, amount: int) -> tuple[Fraction, bool]:
        at = max(observed, self.clock)
        self.advance(at)
        self.tokens, self.clock = self.tokens_at(at) - amount, at
        overdrew = amount > 0 and self.tokens < 0
        if overdrew:
            if self.level < self.top:
                self.history.append(("up", at, self.level, self.level + 1))
                self.level += 1
            self.calm = at
        return self.tokens, overdrew


def engine_history(
    spec: ObligationSpec, bucket: Bucket, records: list[tuple[int, int]]
) -> tuple[Bucket, list]:
    """Meter ``records`` with the engine; every step and each record's (tokens, overdraw, level)."""
    out: list = []
    for observed, amount in records:
        bucket, downs, metered = meter(spec, bucket, observed, amount)
        out += [("down", d.at, d.from_level, d.to_level) for d in downs]
        if metered.level > metered.from_level:
            out.append(("up", metered.at, metered.from_level, metered.level))
        out.append(("record", Fraction(metered.tokens, spec.scale), metered.overdraw > 0, metered.level))
    return bucket, out


# --------------------------------------------------------------------------------------------------
# Strategies
# --------------------------------------------------------------------------------------------------

quantities = st.one_of(
    st.integers(1, 50).map(lambda n: n * MICRO),
    st.integers(1, 10**9),
    st.integers(1, 10**15 - 1),
)


@st.composite
def specs(draw: st.DrawFn) -> ObligationSpec:
    return ObligationSpec(
        obligation="o",
        party="iran",
        metric="m",
        unit="kg",
        rate=draw(quantities),
        burst=draw(quantities),
        period_seconds=draw(st.sampled_from([1, 7, 60, 3600, 86_400, 30 * 86_400, 316_224_000])),
        ladder=tuple(f"t{i}" for i in range(draw(st.integers(2, 5)))),
        hold_seconds=draw(st.sampled_from([1, 3, 60, 3600, 14 * 86_400])),
        recovery_pct=draw(st.integers(0, 100)),
    )


@st.composite
def streams(draw: st.DrawFn, spec: ObligationSpec, max_size: int = 40) -> list[tuple[int, int]]:
    """Records ``(observed µs, amount micro-units)``: steps forward, ties, some late; amounts near the bucket."""
    t = instant_us(T0)
    out = []
    for _ in range(draw(st.integers(0, max_size))):
        t += draw(
            st.one_of(
                st.just(0),
                st.integers(0, 10 * US),
                st.integers(0, spec.period_seconds * US),
                st.integers(0, spec.hold_seconds * 3 * US),
                st.integers(-spec.hold_seconds * US, 0),  # observed before the previous one
            )
        )
        amount = draw(
            st.one_of(
                st.just(0),
                st.integers(0, spec.rate),
                st.integers(0, min(2 * spec.burst, 10**15 - 1)),  # a command carries at most 10**15 - 1
                st.integers(0, 10**15 - 1),
            )
        )
        out.append((t, amount))
    return out


# --------------------------------------------------------------------------------------------------
# The engine against the reference; the vectorised replay against the engine
# --------------------------------------------------------------------------------------------------


@given(data=st.data())
@settings(max_examples=300)
def test_the_engine_agrees_with_the_reference_model(data: st.DataObject) -> None:
    spec = data.draw(specs())
    records = data.draw(streams(spec))
    begin = instant_us(T0)
    reference = Reference.of(spec, begin)
    expected: list = []
    for observed, amount in records:
        before = len(reference.history)
        tokens, overdrew = reference.record(observed, amount)
        expected += reference.history[before:]
        expected.append(("record", tokens, overdrew, reference.level))
    bucket, got = engine_history(spec, start(spec, begin), records)
    assert got == expected
    assert (bucket.level, Fraction(bucket.tokens, spec.scale), bucket.clock) == (
        reference.level,
        reference.tokens,
        reference.clock,
    )
    until = data.draw(st.integers(bucket.clock, bucket.clock + 10 * spec.hold_seconds * US))
    from backchannel.domain.agreements.obligations import advance

    after, downs = advance(spec, bucket, until)
    before = len(reference.history)
    reference.advance(until)
    assert [("down", d.at, d.from_level, d.to_level) for d in downs] == reference.history[before:]
    assert Fraction(after.tokens, spec.scale) == reference.tokens


@given(data=st.data())
@settings(max_examples=300)
def test_the_vectorised_replay_equals_the_engine(data: st.DataObject) -> None:
    spec = data.draw(specs())
    records = data.draw(streams(spec, max_size=60))
    begin = instant_us(T0)
    times = np.array([t for t, _ in records], dtype=np.int64)
    amounts = np.array([a for _, a in records], dtype=np.int64)
    replay = replay_consumption(spec, times, amounts, start=begin)
    bucket = start(spec, begin)
    levels, tokens, overdraws, steps = [], [], [], []
    for index, (observed, amount) in enumerate(records):
        bucket, downs, metered = meter(spec, bucket, observed, amount)
        steps += [(index, d.at, d.from_level, d.to_level) for d in downs]
        if metered.level > metered.from_level:
            steps.append((index, metered.at, metered.from_level, metered.level))
        levels.append(metered.level)
        tokens.append(metered.tokens)
        overdraws.append(metered.overdraw > 0)
    assert replay.levels.tolist() == levels
    assert [int(t) for t in replay.tokens] == tokens
    assert replay.overdraw.tolist() == overdraws
    assert [tuple(s) for s in replay.steps] == steps


def test_the_vectorised_replay_of_nothing_and_of_bad_input() -> None:
    spec = ObligationSpec("o", "p", "m", "kg", 1, 1, 1, ("a", "b"), 1, 0)
    empty = replay_consumption(spec, np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    assert (len(empty.levels), len(empty.tokens), len(empty.overdraw), empty.steps) == (0, 0, 0, ())
    with np.testing.assert_raises(ValueError):
        replay_consumption(spec, np.array([1, 2]), np.array([1]))
    with np.testing.assert_raises(ValueError):
        replay_consumption(spec, np.array([[1]]), np.array([[1]]))
    with np.testing.assert_raises(ValueError):
        replay_consumption(spec, np.array([1]), np.array([-1]))
    one = replay_consumption(spec, np.array([5]), np.array([2]))  # starts at the first record's time
    assert (one.levels.tolist(), one.overdraw.tolist(), one.dtype) == ([1], [True], "int64")


def test_the_vectorised_replay_stays_exact_beyond_int64() -> None:
    # one micro-unit per ten years, a huge burst: ticks far beyond 2**63
    spec = ObligationSpec("o", "p", "m", "kg", 7, 10**15 - 1, 315_999_983, ("a", "b", "c"), 1, 100)
    begin = instant_us(T0)
    times = np.array([begin, begin + 1, begin + 10**12], dtype=np.int64)
    amounts = np.array([10**15 - 1, 5, 0], dtype=np.int64)
    replay = replay_consumption(spec, times, amounts, start=begin)
    assert replay.dtype == "object"
    _, expected = engine_history(
        spec, start(spec, begin), [(int(t), int(a)) for t, a in zip(times, amounts, strict=False)]
    )
    assert [int(t) for t in replay.tokens] == [int(e[1] * spec.scale) for e in expected if e[0] == "record"]
    assert replay.levels.tolist() == [0, 1, 1]


# --------------------------------------------------------------------------------------------------
# Through the track domain
# --------------------------------------------------------------------------------------------------


def key(seed: str) -> NewKey:
    ed = hashlib.sha256(b"ed/" + seed.encode()).digest()
    return NewKey(ed25519_key_id(ed), ed, hashlib.sha256(b"x/" + seed.encode()).digest())


KEYS = {m: key(m) for m in ("med/chair", "med/service", "iran/lead", "iaea/lead")}


class Track:
    """A minimal open track: mediator med, delegation iran, inspector iaea."""

    def __init__(self) -> None:
        self.now = T0
        self.state: TrackState | None = None
        self.events: list[Event] = []
        self.count = 0
        self.run(
            OpenTrack,
            "med/chair",
            title="T",
            principal_key=KEYS["med/chair"],
            service_key=KEYS["med/service"],
        )
        for party, kind in (("iran", PartyKind.DELEGATION), ("iaea", PartyKind.INSPECTOR)):
            self.run(
                AdmitParty, "med/chair", party=party, kind=kind, principal=f"{party}/lead",
                principal_key=KEYS[f"{party}/lead"],
            )  # fmt: skip

    def run(self, kind: type[Command], member: str, /, **fields: object) -> list[Event]:
        self.count += 1
        command = kind(
            track="t", member=member, key_id=KEYS[member].key_id, issued_at=self.now,
            digest=hashlib.sha256(f"c{self.count}".encode()).digest(), **fields,
        )  # fmt: skip
        events = decide(self.state, command, self.now)
        for event in events:
            self.state = evolve(self.state, event)
        self.events += events
        return events

    def define(self, spec: ObligationSpec) -> None:
        self.run(
            DefineObligation, "med/chair", obligation=spec.obligation, party="iran", metric=spec.metric,
            unit=spec.unit, rate=int(spec.rate) / MICRO, burst=spec.burst / MICRO,
            period_seconds=spec.period_seconds, ladder=spec.ladder, hold_seconds=spec.hold_seconds,
            recovery_pct=spec.recovery_pct,
        )  # fmt: skip

    def record(self, observed: int, amount: int) -> list[Event]:
        self.now = max(self.now, instant_of(observed))
        return self.run(
            RecordConsumption, "iaea/lead", obligation="o", amount=float(micro_text(amount)), unit="kg",
            observed_at=instant_of(observed), source="a",
        )  # fmt: skip

    def review(self) -> list[Event]:
        try:
            return self.run(ReviewObligation, "med/service", obligation="o")
        except TrackStateError:
            return []

    def ladder(self) -> list[tuple[str, datetime, int, int]]:
        """The ladder history the events tell: (type, effective time, from, to)."""
        return [
            (e.type, e.effective_at, e.from_level, e.to_level)  # type: ignore[union-attr]
            for e in self.events
            if e.type in {"obligation.escalated", "obligation.deescalated"}
        ]


domain_specs = specs()


def in_order(records: list[tuple[int, int]]) -> list[tuple[int, int]]:
    clock, out = 0, []
    for observed, amount in records:
        clock = max(clock, observed)
        out.append((clock, amount))
    return out


@given(data=st.data())
@settings(max_examples=60)
def test_replaying_the_same_stream_gives_the_same_ladder_history(data: st.DataObject) -> None:
    spec = data.draw(domain_specs)
    records = in_order(data.draw(streams(spec, max_size=25)))
    histories = []
    for _ in range(2):
        track = Track()
        track.define(spec)
        for observed, amount in records:
            track.record(observed, amount)
        histories.append(track.ladder())
    assert histories[0] == histories[1]
    # the same, with the service reviewing at random moments in between: the same history,
    # except that steps due after the last record are taken too
    track = Track()
    track.define(spec)
    reviews = data.draw(st.lists(st.booleans(), min_size=len(records), max_size=len(records)))
    for (observed, amount), reviewed in zip(records, reviews, strict=True):
        if reviewed:
            track.now = max(track.now, instant_of(observed))
            track.review()
        track.record(observed, amount)
    assert track.ladder() == histories[0]


class ObligationMachine(RuleBasedStateMachine):
    """Records (some late), time passing and reviews, against the reference model."""

    def __init__(self) -> None:
        super().__init__()
        self.track: Track | None = None
        self.reference: Reference | None = None
        self.spec: ObligationSpec | None = None

    @precondition(lambda self: self.track is None)
    @rule(spec=domain_specs)
    def define(self, spec: ObligationSpec) -> None:
        self.track, self.spec = Track(), spec
        self.track.define(spec)
        self.reference = Reference.of(spec, instant_us(self.track.now))

    @precondition(lambda self: self.track is not None)
    @rule(late=st.integers(0, 10**7), amount=st.integers(0, 10**9) | st.integers(0, 10**15 - 1))
    def record(self, late: int, amount: int) -> None:
        assert self.track is not None
        assert self.reference is not None
        observed = instant_us(self.track.now) - late
        self.track.record(observed, amount)
        self.reference.record(observed, amount)

    @precondition(lambda self: self.track is not None)
    @rule(seconds=st.integers(0, 10**6) | st.integers(0, 10**8))
    def wait(self, seconds: int) -> None:
        assert self.track is not None
        self.track.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.track is not None)
    @rule()
    def review(self) -> None:
        assert self.track is not None
        assert self.reference is not None
        self.track.review()
        self.reference.advance(instant_us(self.track.now))

    @invariant()
    def agrees(self) -> None:
        if self.track is None or self.track.state is None:
            return
        assert self.reference is not None
        assert self.spec is not None
        record = self.track.state.obligations["o"]
        assert record.level == self.reference.level
        assert Fraction(record.bucket.tokens, self.spec.scale) == self.reference.tokens
        assert record.bucket.clock == self.reference.clock
        got = [
            (
                "up" if step.to_level > step.from_level else "down",
                instant_us(step.effective_at),
                step.from_level,
                step.to_level,
            )
            for step in record.steps
        ]
        assert got == self.reference.history


ObligationMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=30)
TestObligationMachine = ObligationMachine.TestCase


def vector_and_engine(spec: ObligationSpec, records: list[tuple[int, int]]) -> tuple[list, list]:
    begin = instant_us(T0)
    times = np.array([begin + t * US for t, _ in records], dtype=np.int64)
    amounts = np.array([a * MICRO for _, a in records], dtype=np.int64)
    replay = replay_consumption(spec, times, amounts, start=begin)
    bucket = start(spec, begin)
    steps = []
    for index, (t, a) in enumerate(zip(times.tolist(), amounts.tolist(), strict=True)):
        bucket, downs, metered = meter(spec, bucket, t, a)
        steps += [(index, d.at, d.from_level, d.to_level) for d in downs]
        if metered.level > metered.from_level:
            steps.append((index, metered.at, metered.from_level, metered.level))
    return [tuple(s) for s in replay.steps], steps


# 1 kg/s, burst 10 kg, hold 5 s, a step down needs a full bucket
FAST = ObligationSpec("o", "p", "m", "kg", MICRO, 10 * MICRO, 1, ("a", "b", "c", "d"), 5, 100)


def test_a_hold_ending_in_a_gap_that_never_recovers_skips_to_the_next_good_gap() -> None:
    vector, engine = vector_and_engine(FAST, [(0, 15), (6, 0), (30, 0)])
    assert vector == engine
    assert [(s[1] - instant_us(T0)) // US for s in engine] == [0, 15]


def test_a_cascade_of_steps_down_stops_at_the_last_record() -> None:
    vector, engine = vector_and_engine(FAST, [(0, 15), (0, 1), (0, 1), (6, 0), (25, 0)])
    assert vector == engine
    assert [(s[1] - instant_us(T0)) // US for s in engine if s[3] < s[2]] == [17, 22]


def test_a_cascade_stops_when_no_later_gap_recovers() -> None:
    vector, engine = vector_and_engine(FAST, [(0, 15), (0, 1), (0, 1), (6, 0), (26, 8), (30, 0)])
    assert vector == engine
    assert [(s[1] - instant_us(T0)) // US for s in engine if s[3] < s[2]] == [17, 22]
