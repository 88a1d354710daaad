"""The messaging and receipts feature: submit, forward, reframe, receipts, dead letters, escalations.

Decisions are in :mod:`~backchannel.domain._messaging`; this module applies the
six events, says who sees them and declares the feature. A delegation or
inspector party sees (DESIGN.md "Security model"):

- messages it submitted (``message.submitted``);
- deliveries to it (``message.forwarded``, ``message.reframed`` naming it),
  and forwards of its own messages;
- receipts it signed, and receipts for its messages;
- dead letters and escalations of deliveries to it or of its messages.

The *original* of a reframed message stays visible to its author's party and
the mediator only: a reframing is a new message that cites it. An event
naming a message the state does not hold is seen by no one (fail closed).
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from backchannel.domain import _messaging
from backchannel.domain._draft import Draft
from backchannel.domain._event_base import Event
from backchannel.domain.commands import (
    ForwardMessage,
    RecordDeadLetter,
    RecordEscalation,
    RecordReceipt,
    ReframeMessage,
    SubmitMessage,
)
from backchannel.domain.ids import Route, party_of
from backchannel.domain.message_events import (
    MessageDeadLettered,
    MessageEscalated,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    ReceiptRecorded,
)
from backchannel.domain.records import DeadLetter, Delivery, MessageRecord, Settlement
from backchannel.domain.registry import Feature, command, event
from backchannel.domain.state import TrackState

__all__ = ["MESSAGING"]


def _message_submitted(draft: Draft, event: MessageSubmitted) -> None:
    draft.messages[event.message_id] = MessageRecord(
        message_id=event.message_id,
        digest=event.command_digest,
        author=event.by,
        party=party_of(event.by),
        kind=event.kind,
        priority=event.priority,
        body=event.body,
        in_reply_to=event.in_reply_to,
        annexes=event.annexes,
        agenda_version=event.agenda_version,
        reframes=None,
        at=event.at,
        sequence=draft.version,
        deliveries=MappingProxyType({}),
    )


def _message_reframed(draft: Draft, event: MessageReframed) -> None:
    if event.reframes not in draft.messages:
        raise KeyError(event.reframes)
    draft.messages[event.message_id] = MessageRecord(
        message_id=event.message_id,
        digest=event.command_digest,
        author=event.by,
        party=party_of(event.by),
        kind=event.kind,
        priority=event.priority,
        body=event.body,
        in_reply_to=None,
        annexes=event.annexes,
        agenda_version=event.agenda_version,
        reframes=event.reframes,
        at=event.at,
        sequence=draft.version,
        deliveries=MappingProxyType({}),
    )
    _deliver(draft, event.message_id, event.to_parties, Route.REFRAMED, event)


def _deliver(draft: Draft, message_id: str, parties: tuple[str, ...], route: Route, event: Event) -> None:
    message = draft.messages[message_id]
    index = draft.base.log_index(draft.version)
    added = {p: Delivery(p, route, event.at, draft.version, index) for p in parties}
    draft.messages[message_id] = replace(
        message, deliveries=MappingProxyType({**message.deliveries, **added})
    )


def _receipt_recorded(draft: Draft, event: ReceiptRecorded) -> None:
    sequence = draft.version
    settlement = Settlement(
        event.by, event.at, sequence, draft.base.log_index(sequence), event.receipt_digest
    )
    for message_id in event.message_ids:
        delivery = draft.delivery(message_id, event.party)
        if delivery.settled is None:
            draft.set_delivery(message_id, replace(delivery, settled=settlement))


def _forwarded(draft: Draft, event: MessageForwarded) -> None:
    _deliver(draft, event.message_id, event.to_parties, Route.FORWARDED, event)


def _dead_lettered(draft: Draft, event: MessageDeadLettered) -> None:
    dead = DeadLetter(event.at, event.attempts, event.reason)
    if event.party == draft.base.mediator:  # given up in the mediator's own queue
        draft.messages[event.message_id] = replace(draft.messages[event.message_id], unrelayed=dead)
    else:
        draft.set_delivery(
            event.message_id, replace(draft.delivery(event.message_id, event.party), dead_letter=dead)
        )


def _escalated(draft: Draft, event: MessageEscalated) -> None:
    delivery = draft.delivery(event.message_id, event.party)
    draft.set_delivery(
        event.message_id, replace(delivery, escalation_level=event.level, escalated_to=event.to)
    )


def _author(state: TrackState, message_id: str) -> str | None:
    message = state.messages.get(message_id)
    return None if message is None else message.party


def _concerns(state: TrackState, party: str, addressed: tuple[str, ...], about: tuple[str, ...]) -> bool:
    return party in addressed or any(_author(state, m) == party for m in about)


def _sees_submitted(state: TrackState, party: str, event: MessageSubmitted) -> bool:
    del state
    return party_of(event.by) == party


def _sees_forwarded(state: TrackState, party: str, event: MessageForwarded) -> bool:
    return _concerns(state, party, event.to_parties, (event.message_id,))


def _sees_reframed(state: TrackState, party: str, event: MessageReframed) -> bool:
    del state
    return party in event.to_parties


def _sees_receipt(state: TrackState, party: str, event: ReceiptRecorded) -> bool:
    return _concerns(state, party, (event.party,), event.message_ids)


def _sees_delivery_event(
    state: TrackState, party: str, event: MessageDeadLettered | MessageEscalated
) -> bool:
    return _concerns(state, party, (event.party,), (event.message_id,))


MESSAGING = Feature(
    "messaging",
    commands=(
        command(SubmitMessage, "submit_message", _messaging.submit_message),
        command(ForwardMessage, "forward_message", _messaging.forward_message),
        command(ReframeMessage, "reframe_message", _messaging.reframe_message),
        command(RecordReceipt, "record_receipt", _messaging.record_receipt),
        command(RecordDeadLetter, "record_dead_letter", _messaging.record_dead_letter),
        command(RecordEscalation, "record_escalation", _messaging.record_escalation),
    ),
    events=(
        event(MessageSubmitted, _message_submitted, _sees_submitted),
        event(MessageForwarded, _forwarded, _sees_forwarded),
        event(MessageReframed, _message_reframed, _sees_reframed),
        event(ReceiptRecorded, _receipt_recorded, _sees_receipt),
        event(MessageDeadLettered, _dead_lettered, _sees_delivery_event),
        event(MessageEscalated, _escalated, _sees_delivery_event),
    ),
)
"""Messages and receipts (ADR-0011, ADR-0012)."""
