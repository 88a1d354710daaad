"""The pure negotiation domain: a track's rules as ``decide(state, command, now)`` and ``evolve``.

General layout:

- :mod:`~backchannel.domain.ids`: identifier forms and kinds (party kinds, roles,
  message kinds, priorities), and the checked id field types (``PartyId``...).
- :mod:`~backchannel.domain.keys`: key ids, :class:`NewKey`, :class:`KeyRecord`.
- :mod:`~backchannel.domain.agenda`: the agenda schema and field-level validation.
- :mod:`~backchannel.domain.commands`: what members sign (imperative), with
  :mod:`~backchannel.domain.receipts` for what a receipt names per message;
  every command subclasses :class:`~backchannel.domain.command_envelope.CommandEnvelope`.
- :mod:`~backchannel.domain.events` (with ``track_events``, ``message_events``
  and the agreements' event modules): what happened (past tense); every event
  subclasses :class:`~backchannel.domain._event_base.Recorded`.
- :mod:`~backchannel.domain.codec`: the one codec layer; JSON forms derived
  from the dataclass fields, one strict reader naming every field's path.
- :mod:`~backchannel.domain.registry` and :mod:`~backchannel.domain.features`:
  one record per feature (membership, agenda, messaging, deals, commitments,
  attestations, escrow, text, obligations) declaring its commands and events
  with their decide, apply and visibility functions.
- :mod:`~backchannel.domain.records` and :mod:`~backchannel.domain.state`:
  :class:`TrackState` and the queries the service asks.
- :mod:`~backchannel.domain.evolve`: :func:`evolve` and :func:`fold`.
- :mod:`~backchannel.domain.track`: :func:`decide`.
- :mod:`~backchannel.domain.visibility`: :func:`visible_to`.
- :mod:`~backchannel.domain.errors`: the :class:`~backchannel.errors.DomainError` subclasses.

The domain is pure: it imports only the standard library (no I/O, clock or
randomness) and ``backchannel.errors``. It does not verify signatures or
canonicalise JSON: the service does both and passes in digests.
"""

from backchannel.domain.agenda import Agenda
from backchannel.domain.commands import (
    AdmitParty,
    Command,
    DefineObligation,
    EnrollMember,
    ForwardMessage,
    OpenTrack,
    ProposeAgenda,
    RatifyAgenda,
    RecordConsumption,
    RecordDeadLetter,
    RecordEscalation,
    RecordReceipt,
    ReframeMessage,
    ReviewObligation,
    RevokeKey,
    RotateKey,
    SubmitMessage,
)
from backchannel.domain.events import (
    AgendaProposed,
    AgendaRatified,
    Event,
    KeyRevoked,
    KeyRotated,
    MemberEnrolled,
    MessageDeadLettered,
    MessageEscalated,
    MessageForwarded,
    MessageReframed,
    MessageSubmitted,
    PartyAdmitted,
    ReceiptRecorded,
    TrackOpened,
    event_from_dict,
)
from backchannel.domain.evolve import evolve, fold
from backchannel.domain.ids import MessageKind, PartyKind, Priority, Role, Route
from backchannel.domain.keys import KeyRecord, NewKey, ed25519_key_id
from backchannel.domain.receipts import ReceiptItem
from backchannel.domain.state import TrackState
from backchannel.domain.track import decide
from backchannel.domain.visibility import visible_to

__all__ = [
    "AdmitParty",
    "Agenda",
    "AgendaProposed",
    "AgendaRatified",
    "Command",
    "DefineObligation",
    "EnrollMember",
    "Event",
    "ForwardMessage",
    "KeyRecord",
    "KeyRevoked",
    "KeyRotated",
    "MemberEnrolled",
    "MessageDeadLettered",
    "MessageEscalated",
    "MessageForwarded",
    "MessageKind",
    "MessageReframed",
    "MessageSubmitted",
    "NewKey",
    "OpenTrack",
    "PartyAdmitted",
    "PartyKind",
    "Priority",
    "ProposeAgenda",
    "RatifyAgenda",
    "ReceiptItem",
    "ReceiptRecorded",
    "RecordConsumption",
    "RecordDeadLetter",
    "RecordEscalation",
    "RecordReceipt",
    "ReframeMessage",
    "ReviewObligation",
    "RevokeKey",
    "Role",
    "RotateKey",
    "Route",
    "SubmitMessage",
    "TrackOpened",
    "TrackState",
    "decide",
    "ed25519_key_id",
    "event_from_dict",
    "evolve",
    "fold",
    "visible_to",
]
