"""Who a delivery goes to: the queues a command adds to, envelopes, restores, who an escalation alerts.

Pure functions of the track state, used by
:class:`~backchannel.service.delivery.DeliveryService`.

This module does no I/O; it remembers only each recent message's body size (a cache).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from backchannel.broker import Envelope, Priority, RecipientQueue
from backchannel.domain import (
    Event,
    ForwardMessage,
    MessageDeadLettered,
    MessageEscalated,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    ReceiptRecorded,
    ReframeMessage,
    SubmitMessage,
    TrackState,
)
from backchannel.domain.codec import thaw
from backchannel.domain.ids import Role
from backchannel.domain.records import MessageRecord
from backchannel.log.canonical import canonicalize

__all__ = ["closed_by", "envelope", "escalation_targets", "reconcile", "restore", "targets", "touched"]


def targets(state: TrackState, command: object) -> tuple[str, ...]:
    """The parties whose queues a command would add to."""
    match command:
        case SubmitMessage():
            return (state.mediator,)
        case ForwardMessage() | ReframeMessage():
            return command.to_parties
        case _:
            return ()


def envelope(track: str, message: MessageRecord, party: str, index: int) -> Envelope:
    """The envelope of ``message`` queued for ``party`` at log ``index``."""
    return Envelope(
        message_id=message.message_id,
        log_index=index,
        track=track,
        sender=message.party,
        recipient=party,
        priority=Priority(message.priority.value),
        size=_body_size(message),
    )


# message id -> canonical body size (an id fixes its body: it is the hash of the command)
_SIZES: dict[str, int] = {}
_MAX_SIZES = 16_384


def _body_size(message: MessageRecord) -> int:
    """The canonical size of a message's body, computed once per message (each delivery of it reuses it)."""
    size = _SIZES.get(message.message_id)
    if size is None:
        size = len(canonicalize(thaw(message.body)))
        if len(_SIZES) >= _MAX_SIZES:
            _SIZES.clear()
        _SIZES[message.message_id] = size
    return size


def escalation_targets(state: TrackState, party: str, to: tuple[str, ...]) -> tuple[str, ...]:
    """Every member an escalation of a delivery to ``party`` alerts, in policy order, without repeats.

    Resolves the policy's ``escalate_to`` (see
    :class:`~backchannel.broker.DeliveryPolicy`): ``"alternates"`` are the
    party's active delegates, or its active principals if it has no active
    delegate; ``"principal"`` its active principals; ``"mediator"`` the
    mediator party's active principals; a member id names that member if it is
    active and in ``party`` or the mediator party. Empty if nobody qualifies.
    """
    found: dict[str, None] = {}
    for name in to:
        if name == "alternates":
            members = _active(state, party, Role.DELEGATE) or _active(state, party, Role.PRINCIPAL)
        elif name == "principal":
            members = _active(state, party, Role.PRINCIPAL)
        elif name == "mediator":
            members = _active(state, state.mediator, Role.PRINCIPAL)
        else:
            record = state.members.get(name)
            eligible = record is not None and record.active and record.party in {party, state.mediator}
            members = (name,) if eligible else ()
        found.update(dict.fromkeys(members))
    return tuple(found)


def _active(state: TrackState, party: str, role: Role) -> tuple[str, ...]:
    return tuple(m.member for m in state.members_of(party, role) if m.active)


def reconcile(
    state: TrackState, queue: RecipientQueue, message_ids: Iterable[str], was_reframed: Callable[[str], bool]
) -> list[str]:
    """Queue each of ``message_ids`` the log holds pending for the queue's party; return the others.

    The others are closed (settled, relayed, dead-lettered) or were never this
    party's: the caller settles any the queue still holds. ``was_reframed``
    answers for a submission with no delivery whether the mediator reframed it.
    """
    party, others = queue.recipient, []
    for message_id in message_ids:
        message = state.messages.get(message_id)
        if message is None:
            continue
        if party == state.mediator:
            waits = message.party != party and not message.deliveries and message.unrelayed is None
            if waits and not was_reframed(message_id):
                index = state.log_index(message.sequence)
                queue.restore(envelope(state.track, message, party, index), enqueued_at=message.at)
                continue
        elif (delivery := message.deliveries.get(party)) is not None and delivery.pending:
            queue.restore(
                envelope(state.track, message, party, delivery.log_index),
                enqueued_at=delivery.at,
                escalated=delivery.escalation_level > 0,
            )
            continue
        others.append(message_id)
    return others


def touched(
    state: TrackState, events: Iterable[Event], since: int
) -> tuple[list[str], Callable[[str], bool]]:
    """The messages ``events`` (track events ``since`` on) created or changed the delivery of, sorted.

    Also what :func:`reconcile` asks about them: whether one was reframed. A
    message created in ``events`` can only have been reframed by one of them;
    for an older one (rarely asked: it would still await relay) the whole state is searched.
    """
    ids, reframed = _named(events)

    def was_reframed(message_id: str) -> bool:
        if message_id in reframed:
            return True
        return state.messages[message_id].sequence < since and state.was_reframed(message_id)

    return sorted(ids), was_reframed


def _named(events: Iterable[Event]) -> tuple[set[str], set[str]]:
    ids: set[str] = set()
    reframed: set[str] = set()
    for event in events:
        match event:
            case MessageReframed():
                ids.update((event.message_id, event.reframes))
                reframed.add(event.reframes)
            case MessageSubmitted() | MessageForwarded() | MessageDeadLettered() | MessageEscalated():
                ids.add(event.message_id)
            case ReceiptRecorded():
                ids.update(event.message_ids)
            case _:
                pass
    return ids, reframed


def restore(state: TrackState, queue: RecipientQueue) -> set[str]:
    """Queue every delivery the log holds pending for the queue's party; return their ids."""
    party = queue.recipient
    if party == state.mediator:
        waiting = state.awaiting_relay()
        for message in waiting:
            index = state.log_index(message.sequence)
            queue.restore(envelope(state.track, message, party, index), enqueued_at=message.at)
        return {m.message_id for m in waiting}
    pending = state.pending_for(party)
    for item in pending:
        delivery = item.delivery
        queue.restore(
            envelope(state.track, item.message, party, delivery.log_index),
            enqueued_at=delivery.at,
            escalated=delivery.escalation_level > 0,
        )
    return {item.message.message_id for item in pending}


def closed_by(state: TrackState, events: Iterable[Event], closed: dict[tuple[str, str], list[str]]) -> None:
    """Add to ``closed`` the messages ``events`` took out of their (track, party) queue: receipts, relays."""
    for event in events:
        match event:
            case ReceiptRecorded():
                closed.setdefault((state.track, event.party), []).extend(event.message_ids)
            case MessageForwarded():
                closed.setdefault((state.track, state.mediator), []).append(event.message_id)
            case MessageReframed():
                closed.setdefault((state.track, state.mediator), []).append(event.reframes)
            case _:
                pass
