"""Decide agenda, message and delivery commands (called by :func:`backchannel.domain.track.decide`).

Rules, beyond the role matrix in :mod:`~backchannel.domain.track`:

- **Agenda.** A proposed version is the current one + 1 (else
  :class:`StaleAgendaError`). A ratification names the current version and
  its digest (else :class:`StaleAgendaError` / :class:`AgendaMismatchError`),
  once per principal. The agenda is ratified when every principal of every
  delegation (holding a key never revoked) has ratified the current version.
- **Proposals** (and counter-proposals) name the agenda version they are
  written against; it must be the current, ratified version
  (:class:`StaleAgendaError`, :class:`AgendaNotRatifiedError`) and
  ``body["values"]`` must fit it (:class:`SchemaViolationError`, field by
  field: the sender's NACK). Other kinds name no version. Forwarding a
  proposal re-checks that its version is still current and ratified.
- **Recipients** are delegations or inspectors other than the author's party
  (:class:`InvalidRecipientError`); a party gets a message verbatim at most once.
- **Receipts** come from members (not the service) of a party the message was
  delivered to. Each item names the log index of the entry that delivered its
  message to that party (:attr:`Delivery.log_index
  <backchannel.domain.records.Delivery.log_index>`); any other index is refused,
  field by field (``items.3.log_index``). If every message a receipt covers is
  already settled for that party, the receipt is a no-op (``[]``).
- **Dead letters and escalations** concern a pending delivery; escalation
  levels strictly increase, and every member an escalation alerts is an
  enrolled member of the recipient party or of the mediator party.

This module does not check signatures, keys or idempotency (``decide`` did).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from backchannel.domain._event_base import Event
from backchannel.domain._rules import require, stamp
from backchannel.domain.commands import (
    ForwardMessage,
    ProposeAgenda,
    RatifyAgenda,
    RecordDeadLetter,
    RecordEscalation,
    RecordReceipt,
    ReframeMessage,
    SubmitMessage,
)
from backchannel.domain.errors import (
    AgendaMismatchError,
    AgendaNotRatifiedError,
    InvalidRecipientError,
    NotAuthorizedError,
    SchemaViolationError,
    StaleAgendaError,
    TrackStateError,
    UnknownMessageError,
    Violation,
)
from backchannel.domain.ids import MessageKind, PartyKind, Role, message_id_of
from backchannel.domain.message_events import (
    MessageDeadLettered,
    MessageEscalated,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    ReceiptRecorded,
)
from backchannel.domain.records import AgendaRecord, Delivery, MessageRecord
from backchannel.domain.state import TrackState
from backchannel.domain.track_events import AgendaProposed, AgendaRatified
from backchannel.domain.values import JSONValue

__all__ = [
    "forward_message",
    "propose_agenda",
    "ratify_agenda",
    "record_dead_letter",
    "record_escalation",
    "record_receipt",
    "reframe_message",
    "submit_message",
]

_MEDIATOR = (PartyKind.MEDIATOR,)
_DELEGATION = (PartyKind.DELEGATION,)
_RECIPIENT_KINDS = (PartyKind.DELEGATION, PartyKind.INSPECTOR)


def propose_agenda(state: TrackState, command: ProposeAgenda, now: datetime) -> list[Event]:
    """Decide :class:`ProposeAgenda`."""
    require(state, command.member, _MEDIATOR, (Role.PRINCIPAL,), "propose agendas")
    current = 0 if state.agenda is None else state.agenda.version
    if command.agenda.version != current + 1:
        raise StaleAgendaError(
            f"agenda version {command.agenda.version} proposed; the next version is {current + 1}",
            current=current,
        )
    return [AgendaProposed(**stamp(command, now), agenda=command.agenda, agenda_digest=command.agenda_digest)]


def ratify_agenda(state: TrackState, command: RatifyAgenda, now: datetime) -> list[Event]:
    """Decide :class:`RatifyAgenda`."""
    require(state, command.member, _DELEGATION, (Role.PRINCIPAL,), "ratify the agenda")
    agenda = state.agenda
    current = 0 if agenda is None else agenda.version
    if agenda is None or command.version != agenda.version:
        raise StaleAgendaError(
            f"ratification of agenda version {command.version}; the current version is {current}",
            current=current,
        )
    if command.agenda_digest != agenda.digest:
        raise AgendaMismatchError(
            f"ratification names digest {command.agenda_digest.hex()}, "
            f"but agenda version {agenda.version} has digest {agenda.digest.hex()}"
        )
    if command.member in agenda.ratified_by:
        raise TrackStateError(f"{command.member} already ratified agenda version {agenda.version}")
    return [
        AgendaRatified(**stamp(command, now), version=command.version, agenda_digest=command.agenda_digest)
    ]


def _ratified(state: TrackState, version: int | None) -> AgendaRecord:
    agenda = state.agenda
    if agenda is None:
        raise AgendaNotRatifiedError("no agenda has been proposed: no proposal flows before one is ratified")
    if version != agenda.version:
        raise StaleAgendaError(
            f"written against agenda version {version}; the current version is {agenda.version}",
            current=agenda.version,
        )
    status = state.agenda_status()
    assert status is not None  # there is an agenda
    if not status.ratified:
        missing = ", ".join(status.missing) or "no delegation principal yet"
        raise AgendaNotRatifiedError(
            f"agenda version {agenda.version} is not ratified yet (missing: {missing})"
        )
    return agenda


def _check_agenda(
    state: TrackState, kind: MessageKind, version: int | None, body: Mapping[str, JSONValue]
) -> None:
    if not kind.is_proposal:
        if version is not None:
            raise SchemaViolationError(
                [
                    Violation(
                        "agenda_version", "forbidden", f"agenda_version: a {kind} names no agenda version"
                    )
                ]
            )
        return
    if version is None:
        raise SchemaViolationError(
            [Violation("agenda_version", "required", f"agenda_version: a {kind} names its agenda version")]
        )
    _ratified(state, version).agenda.validate_values(body.get("values"))


def _visible(state: TrackState, message_id: str, party: str) -> MessageRecord:
    message = state.messages.get(message_id)
    if message is None or not (party == state.mediator or message.seen_by(party)):
        raise UnknownMessageError(f"no message {message_id} visible to {party}")
    return message


def _fresh_id(state: TrackState, digest: bytes) -> None:
    if message_id_of(digest) in state.messages:
        raise TrackStateError(f"message {message_id_of(digest)} was already accepted")


def _check_recipients(state: TrackState, author_party: str, parties: tuple[str, ...]) -> None:
    for party in parties:
        kind = state.party(party).kind
        if kind not in _RECIPIENT_KINDS:
            raise InvalidRecipientError(
                f"{party} is a {kind} party: messages go to delegations and inspectors"
            )
        if party == author_party:
            raise InvalidRecipientError(f"{party} wrote the message: it is not sent back to its author")


def submit_message(state: TrackState, command: SubmitMessage, now: datetime) -> list[Event]:
    """Decide :class:`SubmitMessage`."""
    signer = require(state, command.member, _DELEGATION, (Role.PRINCIPAL, Role.DELEGATE), "send messages")
    if command.in_reply_to is not None:
        _visible(state, command.in_reply_to, signer.party)
    _check_agenda(state, command.kind, command.agenda_version, command.body)
    _fresh_id(state, command.digest)
    return [
        MessageSubmitted(
            **stamp(command, now),
            kind=command.kind,
            priority=command.priority,
            body=command.body,
            in_reply_to=command.in_reply_to,
            annexes=command.annexes,
            agenda_version=command.agenda_version,
        )
    ]


def forward_message(state: TrackState, command: ForwardMessage, now: datetime) -> list[Event]:
    """Decide :class:`ForwardMessage`."""
    require(state, command.member, _MEDIATOR, (Role.PRINCIPAL, Role.SERVICE), "forward messages")
    message = state.message(command.message_id)
    _check_recipients(state, message.party, command.to_parties)
    for party in command.to_parties:
        if party in message.deliveries:
            raise TrackStateError(f"message {message.message_id} was already delivered to {party}")
    if message.kind.is_proposal:
        _ratified(state, message.agenda_version)
    return [
        MessageForwarded(**stamp(command, now), message_id=message.message_id, to_parties=command.to_parties)
    ]


def reframe_message(state: TrackState, command: ReframeMessage, now: datetime) -> list[Event]:
    """Decide :class:`ReframeMessage`."""
    require(state, command.member, _MEDIATOR, (Role.PRINCIPAL,), "reframe messages")
    original = state.message(command.message_id)
    _check_recipients(state, original.party, command.to_parties)
    _check_agenda(state, original.kind, command.agenda_version, command.body)
    _fresh_id(state, command.digest)
    return [
        MessageReframed(
            **stamp(command, now),
            reframes=original.message_id,
            to_parties=command.to_parties,
            kind=original.kind,
            priority=original.priority,
            body=command.body,
            annexes=command.annexes,
            agenda_version=command.agenda_version,
        )
    ]


def record_receipt(state: TrackState, command: RecordReceipt, now: datetime) -> list[Event]:
    """Decide :class:`RecordReceipt` (``[]`` when every message is already settled for the party)."""
    signer = state.member(command.member)
    if signer.role is Role.SERVICE:
        raise NotAuthorizedError(f"{signer.member} is the service: receipts are signed by recipients")
    unsettled = False
    wrong: list[Violation] = []
    for position, item in enumerate(command.items):
        delivery = _visible(state, item.message_id, signer.party).deliveries.get(signer.party)
        if delivery is None:
            raise NotAuthorizedError(f"message {item.message_id} was not delivered to {signer.party}")
        if item.log_index != delivery.log_index:
            field = f"items.{position}.log_index"
            wrong.append(
                Violation(
                    field,
                    "delivery_index",
                    f"{field}: message {item.message_id} was delivered to {signer.party} "
                    f"at log index {delivery.log_index}, not {item.log_index}",
                )
            )
        unsettled = unsettled or delivery.settled is None
    if wrong:
        raise SchemaViolationError(wrong)
    if not unsettled:
        return []
    return [
        ReceiptRecorded(**stamp(command, now), items=command.items, receipt_digest=command.receipt_digest)
    ]


def _unrelayed(state: TrackState, message_id: str) -> None:
    message = state.message(message_id)
    if message.party == state.mediator:
        raise TrackStateError(f"message {message_id} is the mediator's own: it never waits in its queue")
    if message.unrelayed is not None:
        raise TrackStateError(f"message {message_id} was already given up in the mediator's queue")
    if message.deliveries or state.was_reframed(message_id):
        raise TrackStateError(f"message {message_id} was already relayed by the mediator")


def _pending(state: TrackState, message_id: str, party: str) -> Delivery:
    delivery = state.message(message_id).deliveries.get(party)
    if delivery is None:
        raise TrackStateError(f"message {message_id} was never delivered to {party}")
    if not delivery.pending:
        outcome = "settled" if delivery.settled is not None else "dead-lettered"
        raise TrackStateError(f"delivery of {message_id} to {party} is already {outcome}")
    return delivery


def record_dead_letter(state: TrackState, command: RecordDeadLetter, now: datetime) -> list[Event]:
    """Decide :class:`RecordDeadLetter`.

    For a recipient party, its delivery must be pending. For the mediator party,
    the message is a submission still waiting in the mediator's queue: not the
    mediator's own, not forwarded, not reframed and not given up already.
    """
    require(state, command.member, _MEDIATOR, (Role.SERVICE,), "record dead letters")
    if command.party == state.mediator:
        _unrelayed(state, command.message_id)
    else:
        _pending(state, command.message_id, command.party)
    return [
        MessageDeadLettered(
            **stamp(command, now),
            message_id=command.message_id,
            party=command.party,
            attempts=command.attempts,
            reason=command.reason,
        )
    ]


def record_escalation(state: TrackState, command: RecordEscalation, now: datetime) -> list[Event]:
    """Decide :class:`RecordEscalation`."""
    require(state, command.member, _MEDIATOR, (Role.SERVICE,), "record escalations")
    delivery = _pending(state, command.message_id, command.party)
    if command.level <= delivery.escalation_level:
        raise TrackStateError(
            f"escalation level {command.level} does not exceed the current level {delivery.escalation_level}"
        )
    for member in command.to:
        if state.member(member).party not in {command.party, state.mediator}:
            raise InvalidRecipientError(f"{member} is neither in {command.party} nor in the mediator party")
    return [
        MessageEscalated(
            **stamp(command, now),
            message_id=command.message_id,
            party=command.party,
            level=command.level,
            to=command.to,
        )
    ]
