"""Events: what happened to a track (past tense), and their JSON form.

Every event records:

- ``by``: the member whose signed command caused it;
- ``at``: the decision time (``now`` given to ``decide``);
- ``command_digest``: SHA-256 of that signed command;
- ``idempotency_key``: the command's key, or ``None``.

A message's id is its creating command's digest in hex
(:attr:`MessageSubmitted.message_id`, :attr:`MessageReframed.message_id`).

``to_dict()`` gives the JSON object that becomes the log event's body;
``from_dict()`` (and :func:`event_from_dict`, which dispatches on ``type``)
decodes it strictly: the object must hold exactly the event's fields,
including ``"type"``; anything else raises
:class:`~backchannel.errors.EncodingError` naming the field. Encodings: bytes
(digests, public keys) as 64 lowercase hex digits; instants as UTC text
``YYYY-MM-DDTHH:MM:SS.ffffffZ``; absent optional values as ``null``; kinds as
their enum values; agendas as :meth:`Agenda.to_dict`.

Each feature declares its event classes in its record
(:mod:`backchannel.domain.features`); :data:`Event` is their common base and
:func:`event_from_dict` looks the ``type`` up in the registry. This module
re-exports the track's event classes; it does not decide or apply anything
(see :mod:`~backchannel.domain.track` and :mod:`~backchannel.domain.evolve`).
"""

from __future__ import annotations

from collections.abc import Mapping

from backchannel.domain._event_base import Event
from backchannel.domain.agreements.obligation_events import (
    ObligationDeescalated,
    ObligationDefined,
    ObligationEscalated,
    ObligationMetered,
)
from backchannel.domain.features import REGISTRY
from backchannel.domain.message_events import (
    MessageDeadLettered,
    MessageEscalated,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    ReceiptRecorded,
)
from backchannel.domain.track_events import (
    AgendaProposed,
    AgendaRatified,
    KeyRevoked,
    KeyRotated,
    MemberEnrolled,
    PartyAdmitted,
    TrackOpened,
)
from backchannel.domain.values import JSONValue
from backchannel.errors import EncodingError

__all__ = [
    "AgendaProposed",
    "AgendaRatified",
    "Event",
    "KeyRevoked",
    "KeyRotated",
    "MemberEnrolled",
    "MessageDeadLettered",
    "MessageEscalated",
    "MessageForwarded",
    "MessageReframed",
    "MessageSubmitted",
    "ObligationDeescalated",
    "ObligationDefined",
    "ObligationEscalated",
    "ObligationMetered",
    "PartyAdmitted",
    "ReceiptRecorded",
    "TrackOpened",
    "event_from_dict",
]


def event_from_dict(value: JSONValue) -> Event:
    """Decode any registered event by its ``type`` field.

    Raises:
        EncodingError: not an object, an unknown ``type``, or a bad field (named).
    """
    kind = value.get("type") if isinstance(value, Mapping) else None
    rule = REGISTRY.event_named(kind) if isinstance(kind, str) else None
    if rule is None:
        raise EncodingError(f"event: unknown or missing type {kind!r:.80}")
    return rule.type.from_dict(value)
