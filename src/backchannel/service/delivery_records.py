"""Dead letters and escalations, logged by the service member, once (split out of the delivery service).

:class:`ServiceRecords` turns a :class:`~backchannel.broker.DeadLettered` into
``message.dead_lettered`` and an :class:`~backchannel.broker.Escalated` into
``message.escalated``, signed by ``<mediator>/service`` with an idempotency key
derived from the message, the party and the kind or level, so a re-tick (or a
second node) never logs twice. One escalation names every member it alerts
(:func:`~backchannel.service._routing.escalation_targets`).

:meth:`ServiceRecords.sweep` finds, from the log and the queues, what is due
but was not logged: a node that took the periodic work over from another
(ADR-0059) may hold queues that saw a deadline pass while it was not the one
logging. Its cost is one pass over the track's pending deliveries per tick.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime

from backchannel.broker import (
    DeadLettered,
    DeliveryPolicy,
    Envelope,
    Escalated,
    MessageState,
    Outcome,
    RecipientQueue,
)
from backchannel.clock import Clock
from backchannel.domain import TrackState
from backchannel.domain.errors import IdempotencyConflictError, TrackStateError
from backchannel.errors import NotFoundError, UnknownDeliveryError
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service._routing import envelope, escalation_targets
from backchannel.service.tracks import TrackService

__all__ = ["ServiceRecords", "idempotency_key"]

_log = logging.getLogger(__name__)

_REASON_MAX = 500


class ServiceRecords:
    """Logs dead letters and escalations as the service member (idempotent).

    Args:
        tracks: The track service that executes the commands.
        node: The service's keys (the member ``<mediator>/service`` signs with them).
        policy: The delivery policy (attempts, deadlines, who is alerted).
        clock: The clock commands are issued at.
    """

    def __init__(self, tracks: TrackService, node: KeyPair, policy: DeliveryPolicy, clock: Clock) -> None:
        """Bind the services."""
        self._tracks = tracks
        self._node = node
        self._policy = policy
        self._clock = clock

    def record(self, track: str, outcome: Outcome) -> None:
        """Log ``outcome`` if it is a dead letter or an escalation still due (a redelivery is not logged)."""
        match outcome:
            case DeadLettered():
                self._dead_letter(track, outcome)
            case Escalated():
                self._escalation(track, outcome)
            case _:
                pass  # a redelivery is runtime state, not a log event

    def sweep(self, state: TrackState, queues: Mapping[str, RecipientQueue], now: datetime) -> None:
        """Log what is due on ``state``'s track and not logged yet: dead letters and escalations.

        Args:
            state: The track's state.
            queues: Its queues, by party.
            now: The current time.
        """
        for message in state.awaiting_relay():
            index = state.log_index(message.sequence)
            self._if_dead(
                state, queues.get(state.mediator), envelope(state.track, message, state.mediator, index)
            )
        for party, queue in sorted(queues.items()):
            if party == state.mediator:
                continue
            for pending in state.pending_for(party):
                delivery = pending.delivery
                found = envelope(state.track, pending.message, party, delivery.log_index)
                self._if_dead(state, queue, found)
                due = delivery.at + self._policy.ack_deadline[found.priority]
                if delivery.escalation_level == 0 and self._policy.escalates(found.priority) and due <= now:
                    self.record(
                        state.track, Escalated(found, level=1, deadline=due, to=self._policy.escalate_to)
                    )

    def _if_dead(self, state: TrackState, queue: RecipientQueue | None, found: Envelope) -> None:
        if queue is None:
            return
        try:
            dead = queue.message_state(found.message_id) is MessageState.DEAD_LETTERED
        except UnknownDeliveryError:
            return
        if dead:
            attempts = self._policy.max_attempts
            reason = (
                f"not acknowledged after {attempts} delivery attempt(s), "
                f"each with a visibility timeout of {self._policy.visibility_timeout}"
            )
            self.record(state.track, DeadLettered(found, attempts=attempts, reason=reason))

    def _dead_letter(self, track: str, outcome: DeadLettered) -> None:
        found = outcome.envelope
        if not self._pending(track, found.message_id, found.recipient):
            return
        body: dict[str, JSONValue] = {
            "message_id": found.message_id,
            "party": found.recipient,
            "attempts": outcome.attempts,
            "reason": outcome.reason[:_REASON_MAX],
        }
        key = idempotency_key("dead-letter", found)
        self._execute_own(track, "record_dead_letter", body, key, found, level=None)

    def _escalation(self, track: str, outcome: Escalated) -> None:
        found = outcome.envelope
        state = self._state(track)
        if not self._pending(track, found.message_id, found.recipient):
            return
        delivery = state.message(found.message_id).deliveries[found.recipient]
        if delivery.escalation_level >= outcome.level:
            return
        alerted = escalation_targets(state, found.recipient, outcome.to)
        if not alerted:
            _log.warning("no member to alert for %s on %s", found.message_id, track)
            return
        body: dict[str, JSONValue] = {
            "message_id": found.message_id,
            "party": found.recipient,
            "level": outcome.level,
            "to": list[JSONValue](alerted),
        }
        key = idempotency_key(f"escalation-{outcome.level}", found)
        self._execute_own(track, "record_escalation", body, key, found, level=outcome.level)

    def _execute_own(  # noqa: PLR0913 - the command's parts, by name
        self,
        track: str,
        command: str,
        body: dict[str, JSONValue],
        key: str,
        found: Envelope,
        *,
        level: int | None,
    ) -> None:
        state = self._state(track)
        if state.idempotent_result(state.service_member, key) is not None:
            return
        signed = sign_command(
            self._node.signing,
            track=track,
            command=command,
            member=state.service_member,
            body=body,
            issued_at=self._clock.now(),
            nonce=hashlib.sha256(key.encode()).hexdigest()[:32],
            idempotency_key=key,
        )
        try:
            self._tracks.execute(signed)
        except (IdempotencyConflictError, TrackStateError):
            # Another writer recorded it, or a receipt settled it, since we looked.
            if self._still_due(track, found, level):
                raise

    def _still_due(self, track: str, found: Envelope, level: int | None) -> bool:
        if not self._pending(track, found.message_id, found.recipient):
            return False
        if level is None:
            return True
        delivery = self._state(track).message(found.message_id).deliveries[found.recipient]
        return delivery.escalation_level < level

    def _pending(self, track: str, message_id: str, party: str) -> bool:
        state = self._state(track)
        message = state.messages.get(message_id)
        if message is None:
            return False
        if party == state.mediator:
            return any(m.message_id == message_id for m in state.awaiting_relay())
        delivery = message.deliveries.get(party)
        return delivery is not None and delivery.pending

    def _state(self, track: str) -> TrackState:
        state = self._tracks.state(track)
        if state is None:
            raise NotFoundError(f"track {track!r} is not open here")
        return state


def idempotency_key(kind: str, found: Envelope) -> str:
    """The key of a service record: the kind and a digest of the message and the party."""
    digest = hashlib.sha256(f"{found.message_id}\n{found.recipient}".encode()).hexdigest()
    return f"{kind}:{digest}"
