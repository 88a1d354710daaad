"""A stateful property test of the two-phase commit against a straightforward reference model.

Hypothesis drives the domain (``decide`` + ``evolve``) on a track with a
mediator, three delegations (their principals vote) and a delegate who may
not, with random prepares, votes (YES or NO, on the deal's hash or another),
duplicate votes, verbatim retries of signed commands, clock advances past
deadlines and the service's resolutions. The model keeps each deal's ballots
in a dict and recomputes the outcome from scratch. At every step:

- a command is accepted or refused exactly as the model says, and a refused
  command appends nothing (the state is unchanged);
- no deal commits without every voter's YES on the deal's own hash;
- a deal is never both committed and aborted, and a final deal stays final
  (abort and commit are final);
- retries and duplicate votes change nothing;
- folding every event from scratch gives the state built event by event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from backchannel.domain import (
    AdmitParty,
    Command,
    EnrollMember,
    Event,
    NewKey,
    OpenTrack,
    PartyKind,
    Role,
    TrackState,
    decide,
    ed25519_key_id,
    evolve,
    fold,
)
from backchannel.domain.agreements.deal_commands import PrepareDeal, ResolveDeal, VoteDeal
from backchannel.domain.agreements.deals import Deal, DealStatus, Quantity, Step
from backchannel.errors import DomainError

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TRACK = "talks"
VOTERS = ("eu/lead", "iran/lead", "usa/lead")
MEMBERS = (*VOTERS, "usa/aide", "med/chair")
OTHER_HASH = b"\xee" * 32


def key(member: str) -> NewKey:
    ed = hashlib.sha256(b"ed/" + member.encode()).digest()
    return NewKey(ed25519_key_id(ed), ed, hashlib.sha256(b"x/" + member.encode()).digest(), None)


def deal_of(deal_id: str) -> Deal:
    steps = (
        Step("iran", "cap enrichment", None, Quantity(3.67, "%")),
        Step("usa", "grant relief", None, Quantity("tier-1", None)),
    )
    return Deal(deal_id, f"deal {deal_id}", (steps,))


def hash_of(deal: Deal) -> bytes:
    return hashlib.sha256(repr(deal.to_dict()).encode()).digest()


@dataclass
class ModelDeal:
    """The reference: ballots in a dict, the outcome recomputed from scratch."""

    deal_hash: bytes
    deadline: datetime
    voters: tuple[str, ...]
    ballots: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    resolved: bool = False

    @property
    def status(self) -> DealStatus:
        if any(vote == "no" or signed != self.deal_hash for vote, signed in self.ballots.values()):
            return DealStatus.ABORTED
        if set(self.ballots) == set(self.voters):
            return DealStatus.COMMITTED
        return DealStatus.ABORTED if self.resolved else DealStatus.PREPARING


class TwoPhaseCommit(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.counter = 0
        self.state: TrackState | None = None
        self.events: list[Event] = []
        self.model: dict[str, ModelDeal] = {}
        self.final: dict[str, DealStatus] = {}
        self.sent: list[Command] = []

    # -- plumbing ---------------------------------------------------------------------------------
    def command(self, command_type: type[Command], member: str, /, **fields: object) -> Command:
        self.counter += 1
        digest = hashlib.sha256(f"command {self.counter}".encode()).digest()
        return command_type(
            track=TRACK,
            member=member,
            key_id=key(member).key_id,
            issued_at=self.now,
            digest=digest,
            idempotency_key=f"k{self.counter}",
            **fields,
        )

    def run(self, command: Command) -> list[Event] | DomainError:
        before = self.state
        try:
            events = decide(self.state, command, self.now)
        except DomainError as e:
            assert self.state is before
            return e
        for event in events:
            self.state = evolve(self.state, event)
        self.events.extend(events)
        self.sent.append(command)
        return events

    @property
    def s(self) -> TrackState:
        assert self.state is not None
        return self.state

    @initialize()
    def open_track(self) -> None:
        chair, service = key("med/chair"), key("med/service")
        assert not isinstance(
            self.run(
                self.command(OpenTrack, "med/chair", title="t", principal_key=chair, service_key=service)
            ),
            DomainError,
        )
        for member in VOTERS:
            party = member.split("/")[0]
            admit = self.command(
                AdmitParty,
                "med/chair",
                party=party,
                kind=PartyKind.DELEGATION,
                principal=member,
                principal_key=key(member),
            )
            assert not isinstance(self.run(admit), DomainError)
        enrol = self.command(
            EnrollMember, "usa/lead", new_member="usa/aide", role=Role.DELEGATE, new_key=key("usa/aide")
        )
        assert not isinstance(self.run(enrol), DomainError)

    # -- rules -----------------------------------------------------------------------------------------
    @rule(seconds=st.integers(1, 120))
    def prepare(self, seconds: int) -> None:
        deal = deal_of(f"d{len(self.model)}")
        deadline = self.now + timedelta(seconds=seconds)
        result = self.run(
            self.command(PrepareDeal, "med/chair", deal=deal, deal_hash=hash_of(deal), deadline=deadline)
        )
        assert not isinstance(result, DomainError), result
        self.model[deal.id] = ModelDeal(hash_of(deal), deadline, VOTERS)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), member=st.sampled_from(MEMBERS), yes=st.booleans(), right_hash=st.integers(0, 9))
    def vote(self, data: st.DataObject, member: str, yes: bool, right_hash: int) -> None:
        deal_id = data.draw(st.sampled_from(sorted(self.model)))
        model = self.model[deal_id]
        signed = model.deal_hash if right_hash else OTHER_HASH  # mostly the right hash
        choice = "yes" if yes else "no"
        result = self.run(self.command(VoteDeal, member, deal_id=deal_id, deal_hash=signed, vote=choice))
        earlier = model.ballots.get(member)
        if member not in model.voters:
            assert isinstance(result, DomainError)
        elif earlier is not None:
            if earlier == (choice, signed):
                assert result == []  # a duplicate vote is a no-op
            else:
                assert isinstance(result, DomainError)  # a vote never changes
        elif model.status is not DealStatus.PREPARING or self.now >= model.deadline:
            assert isinstance(result, DomainError)  # final, or late
        else:
            assert not isinstance(result, DomainError), result
            model.ballots[member] = (choice, signed)
            types = [e.type for e in result]
            expected = {DealStatus.COMMITTED: "deal.committed", DealStatus.ABORTED: "deal.aborted"}
            assert types == ["deal.voted"] + ([expected[model.status]] if model.status in expected else [])

    @precondition(lambda self: self.sent)
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        """A verbatim retry of an accepted command (same digest and idempotency key) appends nothing."""
        command = data.draw(st.sampled_from(self.sent))
        before = self.state
        assert decide(self.state, command, self.now) == []
        assert self.state is before

    @rule(seconds=st.integers(1, 90))
    def wait(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @precondition(lambda self: self.model)
    @rule(data=st.data(), by_service=st.integers(0, 4))
    def resolve(self, data: st.DataObject, by_service: int) -> None:
        deal_id = data.draw(st.sampled_from(sorted(self.model)))
        model = self.model[deal_id]
        member = "med/service" if by_service else "med/chair"
        result = self.run(self.command(ResolveDeal, member, deal_id=deal_id))
        if member != "med/service" or model.status is not DealStatus.PREPARING or self.now < model.deadline:
            assert isinstance(result, DomainError)
            return
        assert [e.type for e in result] == ["deal.aborted"]  # type: ignore[union-attr]
        model.resolved = True

    # -- invariants ----------------------------------------------------------------------------------
    @invariant()
    def the_domain_agrees_with_the_model(self) -> None:
        if self.state is None:
            return
        assert set(self.s.deals) == set(self.model)
        for deal_id, model in self.model.items():
            record = self.s.deal(deal_id)
            assert record.status is model.status, deal_id
            assert {m: (b.vote.value, b.deal_hash) for m, b in record.ballots.items()} == model.ballots

    @invariant()
    def no_commit_without_every_yes_on_the_same_hash(self) -> None:
        if self.state is None:
            return
        for record in self.s.deals.values():
            if record.status is DealStatus.COMMITTED:
                assert set(record.ballots) == set(record.voters)
                assert all(
                    b.vote.value == "yes" and b.deal_hash == record.deal_hash for b in record.ballots.values()
                )

    @invariant()
    def final_is_final_and_never_both(self) -> None:
        outcomes: dict[str, list[str]] = {}
        for event in self.events:
            if event.type in {"deal.committed", "deal.aborted"}:
                outcomes.setdefault(event.deal_id, []).append(event.type)  # type: ignore[union-attr]
        assert all(len(kinds) == 1 for kinds in outcomes.values()), outcomes
        if self.state is None:
            return
        for deal_id, status in self.final.items():
            assert self.s.deal(deal_id).status is status
        self.final.update({d: r.status for d, r in self.s.deals.items() if r.status.final})

    @invariant()
    def fold_equals_evolve(self) -> None:
        if self.events and len(self.events) % 7 == 0:  # a full fold now and then keeps the run fast
            assert fold(self.events) == self.state


TwoPhaseCommit.TestCase.settings = settings(max_examples=150, stateful_step_count=40)
TestTwoPhaseCommit = TwoPhaseCommit.TestCase
