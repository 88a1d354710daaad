"""A small track world for the domain tests: keys, signed-command builders, decide + evolve.

:func:`populate` builds an open track ``talks`` with parties and members of every
kind and role, and agenda version 1 ratified by both delegations::

      med    mediator    med/chair (principal), med/staff (delegate), med/obs (observer), med/service
      iran   delegation  iran/lead (principal), iran/deputy (delegate), iran/watcher (observer)
      usa    delegation  usa/lead (principal), usa/aide (delegate), usa/watch (observer)
      swiss  witness     swiss/lead (principal)
      iaea   inspector   iaea/lead (principal)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from backchannel.domain import (
    AdmitParty,
    Agenda,
    Command,
    EnrollMember,
    Event,
    ForwardMessage,
    MessageKind,
    NewKey,
    OpenTrack,
    PartyKind,
    ProposeAgenda,
    RatifyAgenda,
    ReceiptItem,
    RecordReceipt,
    ReframeMessage,
    Role,
    SubmitMessage,
    TrackState,
    decide,
    ed25519_key_id,
    evolve,
)
from backchannel.domain.agenda import BooleanIssue, ChoiceIssue, NumberIssue

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

AGENDA_V1 = Agenda(
    version=1,
    issues=(
        NumberIssue("enrichment_cap_pct", "%", 0, 90, 0.01),
        ChoiceIssue("sanctions_relief", ("none", "partial", "full")),
        BooleanIssue("snapback"),
    ),
)


def new_key(seed: str, expires_at: datetime | None = None) -> NewKey:
    """A deterministic key pair's public halves (any 32 bytes do: the domain never verifies)."""
    ed = hashlib.sha256(b"ed25519/" + seed.encode()).digest()
    x = hashlib.sha256(b"x25519/" + seed.encode()).digest()
    return NewKey(ed25519_key_id(ed), ed, x, expires_at)


def agenda_digest(agenda: Agenda) -> bytes:
    return hashlib.sha256(repr(agenda.to_dict()).encode()).digest()


def agenda(version: int) -> Agenda:
    return Agenda(version=version, issues=AGENDA_V1.issues)


@dataclass
class World:
    """A track under test: its state, its events, the current key of every member and a clock."""

    track: str = "talks"
    now: datetime = T0
    state: TrackState | None = None
    events: list[Event] = field(default_factory=list)
    keys: dict[str, NewKey] = field(default_factory=dict)
    counter: int = 0
    log_offset: int = 0  # the log index of track.opened (the service's log has 1)

    def digest(self) -> bytes:
        self.counter += 1
        return hashlib.sha256(f"command {self.counter}".encode()).digest()

    def envelope(self, member: str, **overrides: object) -> dict[str, object]:
        fields: dict[str, object] = {
            "track": self.track,
            "member": member,
            "key_id": self.keys[member].key_id if member in self.keys else new_key(member).key_id,
            "issued_at": self.now,
            "digest": self.digest(),
        }
        fields.update(overrides)
        return fields

    def cmd(self, command_type: type[Command], member: str, /, **fields: object) -> Command:
        """A command of ``command_type`` signed by ``member`` (envelope fields may be overridden)."""
        envelope_names = {"track", "member", "key_id", "issued_at", "digest", "idempotency_key"}
        envelope = self.envelope(member, **{k: v for k, v in fields.items() if k in envelope_names})
        body = {k: v for k, v in fields.items() if k not in envelope_names}
        return command_type(**envelope, **body)

    def decide(self, command: Command) -> list[Event]:
        return decide(self.state, command, self.now)

    def apply(self, events: list[Event]) -> list[Event]:
        for event in events:
            self.state = evolve(self.state, event, log_offset=self.log_offset)
            self.events.append(event)
        return events

    def run(self, command: Command) -> list[Event]:
        return self.apply(self.decide(command))

    def tick(self, seconds: float = 1) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now

    @property
    def s(self) -> TrackState:
        assert self.state is not None
        return self.state

    # -- builders that run ------------------------------------------------------------------------

    def open(self, chair: str = "med/chair") -> None:
        mediator = chair.partition("/")[0]
        self.keys[chair] = new_key(chair)
        self.keys[f"{mediator}/service"] = new_key(f"{mediator}/service")
        self.run(
            self.cmd(
                OpenTrack,
                chair,
                title="Talks",
                principal_key=self.keys[chair],
                service_key=self.keys[f"{mediator}/service"],
            )
        )

    def admit(self, party: str, kind: PartyKind = PartyKind.DELEGATION, by: str = "med/chair") -> str:
        principal = f"{party}/lead"
        self.keys[principal] = new_key(principal)
        self.run(
            self.cmd(
                AdmitParty,
                by,
                party=party,
                kind=kind,
                principal=principal,
                principal_key=self.keys[principal],
            )
        )
        return principal

    def enroll(self, member: str, role: Role, by: str | None = None, **key: object) -> None:
        self.keys[member] = new_key(member, **key)
        by = by or f"{member.partition('/')[0]}/lead"
        if member.startswith("med/"):
            by = "med/chair"
        self.run(self.cmd(EnrollMember, by, new_member=member, role=role, new_key=self.keys[member]))

    def propose(self, version: int, by: str = "med/chair") -> None:
        a = agenda(version)
        self.run(self.cmd(ProposeAgenda, by, agenda=a, agenda_digest=agenda_digest(a)))

    def ratify(self, member: str, version: int | None = None) -> None:
        assert self.state is not None
        assert self.state.agenda is not None
        v = self.state.agenda.version if version is None else version
        self.run(self.cmd(RatifyAgenda, member, version=v, agenda_digest=self.state.agenda.digest))

    def submit(
        self,
        member: str = "iran/lead",
        kind: MessageKind = MessageKind.STATEMENT,
        body: dict[str, object] | None = None,
        **fields: object,
    ) -> str:
        if kind.is_proposal and "agenda_version" not in fields:
            fields["agenda_version"] = self.s.agenda.version if self.s.agenda else 1
        if body is None:
            body = {"values": {"enrichment_cap_pct": 3.67}} if kind.is_proposal else {"text": "hello"}
        (event,) = self.run(self.cmd(SubmitMessage, member, kind=kind, body=body, **fields))
        return event.message_id

    def forward(self, message_id: str, *to: str, by: str = "med/service") -> None:
        self.run(self.cmd(ForwardMessage, by, message_id=message_id, to_parties=to))

    def reframe(
        self, message_id: str, *to: str, body: dict[str, object] | None = None, **fields: object
    ) -> str:
        body = body if body is not None else {"text": "reframed"}
        (event,) = self.run(
            self.cmd(ReframeMessage, "med/chair", message_id=message_id, to_parties=to, body=body, **fields)
        )
        return event.message_id

    def delivery_index(self, message_id: str, party: str) -> int:
        """The log index a receipt must name for ``message_id`` delivered to ``party`` (0 if it was not)."""
        message = self.s.messages.get(message_id)
        delivery = None if message is None else message.deliveries.get(party)
        return 0 if delivery is None else delivery.log_index

    def receipt(self, member: str, *message_ids: str, **indexes: int) -> list[Event]:
        """Receipt ``message_ids`` as ``member``, each naming its delivery's log index.

        ``indexes`` overrides an item's index by position: ``receipt(m, a, b, i1=9)``.
        """
        party = member.partition("/")[0]
        items = tuple(
            ReceiptItem(m, indexes.get(f"i{i}", self.delivery_index(m, party)))
            for i, m in enumerate(message_ids)
        )
        return self.run(
            self.cmd(
                RecordReceipt,
                member,
                items=items,
                receipt_digest=hashlib.sha256(repr(items).encode()).digest(),
            )
        )


def populate(w: World) -> World:
    w.open()
    w.enroll("med/staff", Role.DELEGATE)
    w.enroll("med/obs", Role.OBSERVER)
    for party in ("iran", "usa"):
        w.admit(party)
    w.enroll("iran/deputy", Role.DELEGATE)
    w.enroll("iran/watcher", Role.OBSERVER)
    w.enroll("usa/aide", Role.DELEGATE)
    w.enroll("usa/watch", Role.OBSERVER)
    w.admit("swiss", PartyKind.WITNESS)
    w.admit("iaea", PartyKind.INSPECTOR)
    w.propose(1)
    w.ratify("iran/lead")
    w.ratify("usa/lead")
    w.tick(60)
    return w


MEMBERS = (
    "med/chair",
    "med/staff",
    "med/obs",
    "med/service",
    "iran/lead",
    "iran/deputy",
    "iran/watcher",
    "usa/lead",
    "usa/aide",
    "usa/watch",
    "swiss/lead",
    "iaea/lead",
)
