"""Commands: what a member signs and asks the track to do (imperative names).

Every command carries the envelope fields of ADR-0011's signed command:

- ``track``: the track it is for;
- ``member``: who signed it (``party/name``);
- ``key_id``: the key that signed it, which must be usable at decision time;
- ``issued_at``: the signer's clock (recorded, not trusted);
- ``digest``: SHA-256 of the signed command, computed by the service (a
  message's id is this digest in hex);
- ``idempotency_key``: optional; a retry with the same key and digest returns
  the first result and appends nothing.

Construction checks the *shape* of every field and raises one
:class:`~backchannel.domain.errors.SchemaViolationError` listing each
malformed field; JSON bodies are frozen (immutable). Whether the command is
*allowed* is :func:`backchannel.domain.track.decide`'s job.

This module does not parse the signed JSON form or verify signatures: the
service does both and builds these objects.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from backchannel.domain.agenda import Agenda
from backchannel.domain.agreements.obligations import check_obligation_id, quantity_micro, spec_violations
from backchannel.domain.codec import freeze
from backchannel.domain.command_envelope import Command, CommandEnvelope
from backchannel.domain.errors import Violation
from backchannel.domain.ids import (
    MessageKind,
    PartyKind,
    Priority,
    Role,
    check_digest,
    check_key_id,
    check_member_id,
    check_message_id,
    check_party_id,
    party_of,
)
from backchannel.domain.keys import NewKey, is_aware
from backchannel.domain.receipts import MAX_RECEIPT_MESSAGES, ReceiptItem, check_receipt_items
from backchannel.domain.values import JSONValue

__all__ = [
    "MAX_ALERTED",
    "MAX_ANNEXES",
    "MAX_RECEIPT_MESSAGES",
    "MAX_RECIPIENTS",
    "AdmitParty",
    "Command",
    "DefineObligation",
    "EnrollMember",
    "ForwardMessage",
    "OpenTrack",
    "ProposeAgenda",
    "RatifyAgenda",
    "RecordConsumption",
    "RecordDeadLetter",
    "RecordEscalation",
    "RecordReceipt",
    "ReframeMessage",
    "ReviewObligation",
    "RevokeKey",
    "RotateKey",
    "SubmitMessage",
]

MAX_RECIPIENTS = 64
"""At most this many parties per forward or reframe."""
MAX_ANNEXES = 32
"""At most this many annexes per message."""
MAX_ALERTED = 64
"""At most this many members alerted by one escalation."""


def _integer(value: object, name: str, minimum: int) -> list[Violation]:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        return [Violation(name, "minimum", f"{name}: expected an integer >= {minimum}, got {value!r}")]
    return []


def _text(value: object, name: str, max_length: int) -> list[Violation]:
    if not isinstance(value, str) or not 0 < len(value) <= max_length:
        return [Violation(name, "length", f"{name}: expected text of 1 to {max_length} characters")]
    return []


def _kind(command: object, name: str, kind: type[StrEnum], allowed: Collection[str] = ()) -> list[Violation]:
    """Check an enum field (of ``allowed`` values, default all) and store it as the enum member."""
    allowed = allowed or frozenset(kind)
    value: object = getattr(command, name)
    if not isinstance(value, str) or value not in allowed:
        return [Violation(name, "one_of", f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}")]
    object.__setattr__(command, name, kind(value))
    return []


def _list(values: object, name: str, maximum: int, *, empty: bool = False) -> list[Violation]:
    if not isinstance(values, tuple):
        return [Violation(name, "type", f"{name}: expected a tuple")]
    if not values and not empty:
        return [Violation(name, "min_items", f"{name}: expected at least one")]
    if len(values) > maximum:
        return [Violation(name, "max_items", f"{name}: at most {maximum}")]
    if len(set(values)) != len(values):
        return [Violation(name, "unique", f"{name}: duplicates")]
    return []


def _key(value: object, name: str) -> list[Violation]:
    if not isinstance(value, NewKey):
        return [Violation(name, "type", f"{name}: expected a NewKey")]
    return []


def _body(value: object) -> list[Violation]:
    if not isinstance(value, Mapping):
        return [Violation("body", "type", "body: expected a JSON object")]
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenTrack(CommandEnvelope):
    """Open a track; ``member`` becomes the principal of the mediator party (its own party).

    The command is self-signed: ``key_id`` must be ``principal_key``'s. The
    service member ``<mediator>/service`` is enrolled with ``service_key``.
    """

    title: str
    principal_key: NewKey
    service_key: NewKey

    @property
    def mediator_party(self) -> str:
        """The mediator party: the opener's own party."""
        return party_of(self.member)

    def _violations(self) -> list[Violation]:
        return (
            check_member_id(self.member, allow_service=False)
            + _text(self.title, "title", 200)
            + _key(self.principal_key, "principal_key")
            + _key(self.service_key, "service_key")
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmitParty(CommandEnvelope):
    """Admit a party of ``kind`` with its first principal ``principal`` (mediator principal only)."""

    party: str
    kind: PartyKind
    principal: str
    principal_key: NewKey

    def _violations(self) -> list[Violation]:
        found = check_party_id(self.party) + check_member_id(self.principal, "principal", allow_service=False)
        allowed = (PartyKind.DELEGATION, PartyKind.WITNESS, PartyKind.INSPECTOR)
        found += _kind(self, "kind", PartyKind, allowed) + _key(self.principal_key, "principal_key")
        if not found and party_of(self.principal) != self.party:
            found.append(Violation("principal", "party", f"principal: must be a member of {self.party}"))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrollMember(CommandEnvelope):
    """Enrol ``new_member`` with ``role`` and its first key (a principal of its own party only)."""

    new_member: str
    role: Role
    new_key: NewKey

    def _violations(self) -> list[Violation]:
        return (
            check_member_id(self.new_member, "new_member", allow_service=False)
            + _kind(self, "role", Role, (Role.PRINCIPAL, Role.DELEGATE, Role.OBSERVER))
            + _key(self.new_key, "new_key")
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RotateKey(CommandEnvelope):
    """Replace ``subject``'s key ``old_key_id`` with ``new_key``; the old key is revoked at decision time."""

    subject: str
    old_key_id: str
    new_key: NewKey

    def _violations(self) -> list[Violation]:
        return (
            check_member_id(self.subject, "subject")
            + check_key_id(self.old_key_id, "old_key_id")
            + _key(self.new_key, "new_key")
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokeKey(CommandEnvelope):
    """Revoke ``subject``'s key ``revoked_key_id`` from decision time on."""

    subject: str
    revoked_key_id: str

    def _violations(self) -> list[Violation]:
        return check_member_id(self.subject, "subject") + check_key_id(self.revoked_key_id, "revoked_key_id")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposeAgenda(CommandEnvelope):
    """Propose agenda version ``agenda.version`` (current + 1), whose canonical SHA-256 is ``agenda_digest``.

    The service computes ``agenda_digest`` over the canonical JSON of
    ``agenda.to_dict()``; ratifications must name it.
    """

    agenda: Agenda
    agenda_digest: bytes

    def _violations(self) -> list[Violation]:
        found = check_digest(self.agenda_digest, "agenda_digest")
        agenda: object = self.agenda
        if not isinstance(agenda, Agenda):
            found.append(Violation("agenda", "type", "agenda: expected an Agenda"))
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class RatifyAgenda(CommandEnvelope):
    """Ratify agenda ``version``, whose digest must be ``agenda_digest`` (each delegation principal)."""

    version: int
    agenda_digest: bytes

    def _violations(self) -> list[Violation]:
        return _integer(self.version, "version", 1) + check_digest(self.agenda_digest, "agenda_digest")


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmitMessage(CommandEnvelope):
    """Send a message to the mediator (a principal or delegate of a delegation).

    Attributes:
        kind: What the message is.
        body: A JSON object; for proposals, ``body["values"]`` must fit the
            ratified agenda.
        priority: Delivery priority.
        in_reply_to: A message the sender's party can see, or ``None``.
        annexes: SHA-256 digests of (possibly sealed) annexes carried alongside.
        agenda_version: The agenda version a proposal is written against
            (required for proposals, ``None`` otherwise).
    """

    kind: MessageKind
    body: Mapping[str, JSONValue]
    priority: Priority = Priority.ROUTINE
    in_reply_to: str | None = None
    annexes: tuple[bytes, ...] = ()
    agenda_version: int | None = None

    def _violations(self) -> list[Violation]:
        found = _kind(self, "kind", MessageKind) + _kind(self, "priority", Priority)
        if self.in_reply_to is not None:
            found += check_message_id(self.in_reply_to, "in_reply_to")
        return found + _message_violations(self, self.annexes, self.agenda_version)


def _message_violations(
    command: SubmitMessage | ReframeMessage, annexes: tuple[bytes, ...], agenda_version: int | None
) -> list[Violation]:
    found = _body(command.body) + _list(annexes, "annexes", MAX_ANNEXES, empty=True)
    if not found:
        found += [v for i, a in enumerate(annexes) for v in check_digest(a, f"annexes.{i}")]
    if agenda_version is not None:
        found += _integer(agenda_version, "agenda_version", 1)
    if not found:
        object.__setattr__(command, "body", freeze(command.body, "body"))
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ForwardMessage(CommandEnvelope):
    """Deliver message ``message_id`` verbatim to ``to_parties`` (mediator principal or service)."""

    message_id: str
    to_parties: tuple[str, ...]

    def _violations(self) -> list[Violation]:
        return check_message_id(self.message_id) + _recipients(self.to_parties)


def _recipients(parties: tuple[str, ...]) -> list[Violation]:
    found = _list(parties, "to_parties", MAX_RECIPIENTS)
    if not found:
        found += [v for i, p in enumerate(parties) for v in check_party_id(p, f"to_parties.{i}")]
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ReframeMessage(CommandEnvelope):
    """Deliver new text for message ``message_id`` to ``to_parties`` (mediator principal).

    The reframed message is a new message (its id is this command's digest)
    that cites the original; it keeps the original's kind and priority. For
    proposals, ``agenda_version`` is required and ``body["values"]`` must fit
    the ratified agenda.
    """

    message_id: str
    to_parties: tuple[str, ...]
    body: Mapping[str, JSONValue]
    annexes: tuple[bytes, ...] = ()
    agenda_version: int | None = None

    def _violations(self) -> list[Violation]:
        found = check_message_id(self.message_id) + _recipients(self.to_parties)
        return found + _message_violations(self, self.annexes, self.agenda_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordReceipt(CommandEnvelope):
    """Record the signer's receipt for the messages in ``items`` (a member of a recipient party).

    Attributes:
        items: One :class:`~backchannel.domain.receipts.ReceiptItem` per message
            (unique by message id): the message id and the log index of the
            entry that delivered it to the signer's party.
        receipt_digest: SHA-256 of the RFC 8785 canonical JSON array of the
            items' ``[message_id, log_index]`` pairs sorted by message id (the
            wire decoder checks it; see :mod:`~backchannel.domain.receipts`).
    """

    items: tuple[ReceiptItem, ...]
    receipt_digest: bytes

    @property
    def message_ids(self) -> tuple[str, ...]:
        """The messages the receipt covers, in the order of ``items``."""
        return tuple(item.message_id for item in self.items)

    def _violations(self) -> list[Violation]:
        return check_receipt_items(self.items) + check_digest(self.receipt_digest, "receipt_digest")


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordDeadLetter(CommandEnvelope):
    """Record that delivery of ``message_id`` to ``party`` gave up after ``attempts`` (service only)."""

    message_id: str
    party: str
    attempts: int
    reason: str

    def _violations(self) -> list[Violation]:
        return (
            check_message_id(self.message_id)
            + check_party_id(self.party)
            + _integer(self.attempts, "attempts", 1)
            + _text(self.reason, "reason", 500)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordEscalation(CommandEnvelope):
    """Record that unacknowledged ``message_id`` for ``party`` escalated to ``level``, alerting ``to``.

    Service only. ``to`` names every member alerted (1 to :data:`MAX_ALERTED`,
    no duplicates), each a member of ``party`` (an alternate, a principal) or
    of the mediator party (the alarm). Levels strictly increase.
    """

    message_id: str
    party: str
    level: int
    to: tuple[str, ...]

    def _violations(self) -> list[Violation]:
        found = _list(self.to, "to", MAX_ALERTED)
        if not found:
            found += [v for i, m in enumerate(self.to) for v in check_member_id(m, f"to.{i}")]
        return (
            check_message_id(self.message_id)
            + check_party_id(self.party)
            + _integer(self.level, "level", 1)
            + found
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DefineObligation(CommandEnvelope):
    """Define obligation ``obligation`` binding ``party`` (mediator principal; ADR-0018).

    ``rate`` and ``burst`` are JSON numbers in ``unit`` (at most 6 decimals);
    ``rate`` is per ``period_seconds``. The ``ladder`` is given inline (a
    committed deal's ladder, once deals exist). Shape rules:
    :func:`~backchannel.domain.agreements.obligations.spec_violations`.
    """

    obligation: str
    party: str
    metric: str
    unit: str
    rate: float
    burst: float
    period_seconds: int
    ladder: tuple[str, ...]
    hold_seconds: int
    recovery_pct: int
    shared_with: tuple[str, ...] = ()

    def _violations(self) -> list[Violation]:
        return spec_violations(
            obligation=self.obligation,
            party=self.party,
            metric=self.metric,
            unit=self.unit,
            rate=self.rate,
            burst=self.burst,
            period_seconds=self.period_seconds,
            ladder=self.ladder,
            hold_seconds=self.hold_seconds,
            recovery_pct=self.recovery_pct,
            shared_with=self.shared_with,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordConsumption(CommandEnvelope):
    """Meter ``amount`` of the obligation's metric, in ``unit``, observed at ``observed_at``.

    An inspector's principal or delegate, or the service (ADR-0018).
    ``source`` names what attests it (up to 128 characters), or is ``None``.
    """

    obligation: str
    amount: float
    unit: str
    observed_at: datetime
    source: str | None = None

    def _violations(self) -> list[Violation]:
        found = check_obligation_id(self.obligation) + _text(self.unit, "unit", 32)
        found += quantity_micro(self.amount, "amount", positive=False)[1]
        if not is_aware(self.observed_at):
            found.append(Violation("observed_at", "type", "observed_at: expected an aware time"))
        if self.source is not None:
            found += _text(self.source, "source", 128)
        return found


@dataclass(frozen=True, slots=True, kw_only=True)
class ReviewObligation(CommandEnvelope):
    """Take the steps down of ``obligation`` due by now (service only; the review tick, ADR-0018)."""

    obligation: str

    def _violations(self) -> list[Violation]:
        return check_obligation_id(self.obligation)
