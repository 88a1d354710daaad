"""What a track's state holds: parties, members, the agenda, messages and their deliveries.

All records are frozen; collections inside them are read-only mappings or
tuples. :class:`~backchannel.domain.state.TrackState` holds them and
:mod:`~backchannel.domain.evolve` builds them from events.

This module does not apply events or decide commands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from backchannel.domain._event_base import Event
from backchannel.domain.agenda import Agenda
from backchannel.domain.ids import MessageKind, PartyKind, Priority, Role, Route
from backchannel.domain.keys import KeyRecord
from backchannel.domain.values import JSONValue

__all__ = [
    "AgendaRecord",
    "AgendaStatus",
    "DeadLetter",
    "Delivery",
    "IdempotentResult",
    "MemberRecord",
    "MessageRecord",
    "PartyRecord",
    "PendingMessage",
    "Settlement",
]


@dataclass(frozen=True, slots=True)
class PartyRecord:
    """A party of the track.

    Attributes:
        party: Its id.
        kind: Mediator, delegation, witness or inspector.
        admitted_at: When it joined (the track's opening for the mediator).
        admitted_by: The member whose command admitted it.
    """

    party: str
    kind: PartyKind
    admitted_at: datetime
    admitted_by: str


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member of a party and every key it was ever given (in enrolment order).

    Attributes:
        member: Its id, ``party/name``.
        party: Its party.
        role: Principal, delegate, observer, or service (the mediator's node).
        enrolled_at: When it was enrolled.
        enrolled_by: The member whose command enrolled it.
        keys: Every key, revoked and expired ones included.
    """

    member: str
    party: str
    role: Role
    enrolled_at: datetime
    enrolled_by: str
    keys: tuple[KeyRecord, ...]

    def key(self, key_id: str) -> KeyRecord | None:
        """The member's key of that id, if any."""
        return next((k for k in self.keys if k.key_id == key_id), None)

    def usable_keys(self, now: datetime) -> tuple[KeyRecord, ...]:
        """The keys that may sign at ``now``."""
        return tuple(k for k in self.keys if k.usable_at(now))

    @property
    def active(self) -> bool:
        """True while the member holds a key that was never revoked (it may have expired)."""
        return any(k.revoked_at is None for k in self.keys)


@dataclass(frozen=True, slots=True)
class AgendaRecord:
    """The current agenda version and who has ratified it.

    Attributes:
        agenda: The agenda.
        digest: Its canonical SHA-256, as proposed.
        proposed_by: The mediator principal who proposed it.
        proposed_at: When.
        ratified_by: Principal -> when it ratified this version.
    """

    agenda: Agenda
    digest: bytes
    proposed_by: str
    proposed_at: datetime
    ratified_by: Mapping[str, datetime]

    @property
    def version(self) -> int:
        """The agenda's version."""
        return self.agenda.version


@dataclass(frozen=True, slots=True)
class AgendaStatus:
    """Where ratification of the current agenda stands.

    Attributes:
        version: The current version.
        digest: Its digest.
        ratified_by: Principals who ratified it, sorted.
        missing: Principals who still must, sorted.
    """

    version: int
    digest: bytes
    ratified_by: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def ratified(self) -> bool:
        """True when at least one principal ratified and none is missing."""
        return bool(self.ratified_by) and not self.missing

    def __bool__(self) -> bool:
        """Same as :attr:`ratified`."""
        return self.ratified


@dataclass(frozen=True, slots=True)
class Settlement:
    """The receipt that settled a delivery (the first one; later receipts change nothing).

    Attributes:
        by: The recipient member who signed it.
        at: When it was recorded.
        sequence: The track event number of its ``receipt.recorded``.
        log_index: The log index of that ``receipt.recorded`` entry (where a proof of receipt starts).
        receipt_digest: The receipt's digest over all its items.
    """

    by: str
    at: datetime
    sequence: int
    log_index: int
    receipt_digest: bytes


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a delivery was given up.

    Attributes:
        at: When.
        attempts: Delivery attempts made.
        reason: The broker's reason.
    """

    at: datetime
    attempts: int
    reason: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message's delivery to one party.

    Attributes:
        party: The recipient party.
        route: Forwarded verbatim, or reframed.
        at: When the mediator sent it.
        sequence: The track event number that sent it (log order among events).
        log_index: The log index of the entry that sent it (what a receipt for it names).
        settled: The settling receipt, once recorded.
        dead_letter: Why delivery gave up, if it did.
        escalation_level: The highest escalation level so far (0: none).
        escalated_to: The members alerted at that level (empty: none).
    """

    party: str
    route: Route
    at: datetime
    sequence: int
    log_index: int
    settled: Settlement | None = None
    dead_letter: DeadLetter | None = None
    escalation_level: int = 0
    escalated_to: tuple[str, ...] = ()

    @property
    def pending(self) -> bool:
        """True until settled or dead-lettered."""
        return self.settled is None and self.dead_letter is None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message: submitted by a delegation, or a mediator's reframing of one.

    Attributes:
        message_id: Hex of ``digest``.
        digest: SHA-256 of the signed command that created it.
        author: The member who signed that command.
        party: The author's party.
        kind: What it is.
        priority: Delivery priority.
        body: Its JSON object (frozen).
        in_reply_to: The message it answers, if any.
        annexes: Digests of annexes sent alongside.
        agenda_version: The agenda version a proposal was validated against.
        reframes: For a reframing, the original message's id.
        at: When it was accepted.
        sequence: The track event number that created it.
        deliveries: Recipient party -> its delivery.
        unrelayed: Why the mediator's queue gave it up (the mediator never
            forwarded or reframed it within its delivery attempts), or ``None``.
            The mediator may still relay it later.
    """

    message_id: str
    digest: bytes
    author: str
    party: str
    kind: MessageKind
    priority: Priority
    body: Mapping[str, JSONValue]
    in_reply_to: str | None
    annexes: tuple[bytes, ...]
    agenda_version: int | None
    reframes: str | None
    at: datetime
    sequence: int
    deliveries: Mapping[str, Delivery]
    unrelayed: DeadLetter | None = None

    def seen_by(self, party: str) -> bool:
        """True if ``party`` authored it or it was delivered to it (the mediator is not special here)."""
        return party in {self.party, *self.deliveries}


@dataclass(frozen=True, slots=True)
class PendingMessage:
    """A message waiting for one party's receipt.

    Attributes:
        message: The message.
        delivery: Its delivery to the party.
    """

    message: MessageRecord
    delivery: Delivery

    @property
    def order(self) -> tuple[int, int]:
        """The queue order: priority rank, then log order."""
        return (self.message.priority.rank, self.delivery.sequence)


@dataclass(frozen=True, slots=True)
class IdempotentResult:
    """What a command with an idempotency key produced the first time.

    Attributes:
        command_digest: The first command's digest.
        events: The events it produced, in order.
    """

    command_digest: bytes
    events: tuple[Event, ...]
