"""Who may see which event: :func:`visible_to`.

The rules (DESIGN.md "Security model", ADR-0011 "Visibility"):

- members of the **mediator** party (its principals, delegates, observers
  and the service node) see every event of their track;
- members of a **witness** party see no event: they get checkpoints and leaf
  hashes only;
- members of a **delegation** or **inspector** party see what their party
  sees, whatever their role (observers included):

  - the track's public metadata: ``track.opened``, ``party.admitted``,
    ``member.enrolled``, ``key.rotated``, ``key.revoked``,
    ``agenda.proposed``, ``agenda.ratified``;
  - messages their party submitted (``message.submitted``);
  - deliveries to their party (``message.forwarded``, ``message.reframed``
    naming it), and forwards of their own messages;
  - receipts their party signed, and receipts for their party's messages;
  - dead letters and escalations of deliveries to their party or of their
    party's messages. Every member an escalation alerts (``to``) belongs to
    the recipient party or to the mediator party (a rule of ``decide``), so
    every alerted member sees the escalation that names it.

  The *original* of a reframed message stays visible to its author's party
  and the mediator only: a reframing is a new message that cites it.

- **agreements** (issue #4): the events of staged deals (``deal.*``) and of
  commitments (``commitment.*``) are seen by the mediator and by every
  member of every delegation (every delegation principal votes on a deal; a
  commitment is published to the track), and by no inspector or witness.
  - the negotiating text (``text.drafted``, ``text.edited``,
    ``text.policy_set``): every delegation member; inspectors see none;
    a ``text.commented`` is seen by the commenting party (and the mediator)
    only (:func:`backchannel.domain.agreements.text.party_sees_text`).
  - obligation events (``obligation.*``, ADR-0018): the bound party, every
    inspector party (they record consumption against it) and the parties the
    obligation is ``shared_with`` (a counterparty).

**Annexes** (:func:`annex_readable_by`, ADR-0014): an annex blob may be read
by the parties that uploaded it, by the mediator party, and by every party to
which a message naming its digest was delivered (forwarded or reframed).
Witnesses read none they did not upload.

**Attestations and escrows** (ADR-0017): metric definitions are public;
delegations see every attestation, quorum and conflict; an inspector party
sees its own attestations and the quorum and conflict events naming one of
them (:func:`~backchannel.domain.agreements.attestations.attestation_visible`).
An escrow's events are seen by the parties it concerns: its items' owners and
beneficiaries and its signers
(:func:`~backchannel.domain.agreements.escrow.escrow_visible`).

Unknown members see nothing, and so does anyone for an event naming a message
the state does not hold (fail closed). This module does not filter salts or
bodies itself; the service gives a reader exactly the events (and salts) for
which this returns true.
"""

from __future__ import annotations

from collections.abc import Collection

from backchannel.domain.agreements import text
from backchannel.domain.agreements.attestation_book import ATTESTATION_EVENTS
from backchannel.domain.agreements.attestations import attestation_visible
from backchannel.domain.agreements.commitments import CommitmentPublished, CommitmentRevealed
from backchannel.domain.agreements.deals import (
    DealAborted,
    DealCommitted,
    DealDrafted,
    DealPrepared,
    DealVoted,
)
from backchannel.domain.agreements.escrow import escrow_visible
from backchannel.domain.agreements.escrow_book import ESCROW_EVENTS
from backchannel.domain.agreements.obligation_events import ObligationEvent
from backchannel.domain.agreements.obligation_rules import obligation_visible_to
from backchannel.domain.agreements.text_events import TEXT_EVENTS
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
)
from backchannel.domain.ids import PartyKind, party_of
from backchannel.domain.state import TrackState

__all__ = ["annex_readable_by", "visible_to"]

_PUBLIC = (TrackOpened, PartyAdmitted, MemberEnrolled, KeyRotated, KeyRevoked, AgendaProposed, AgendaRatified)
_AGREEMENTS = (
    DealDrafted,
    DealPrepared,
    DealVoted,
    DealCommitted,
    DealAborted,
    CommitmentPublished,
    CommitmentRevealed,
)


def visible_to(state: TrackState, member: str, event: Event) -> bool:
    """True if ``member`` may see ``event`` (see the module docstring).

    Args:
        state: The track's state, at or after the event.
        member: The reader's member id.
        event: An event of this track.
    """
    record = state.members.get(member)
    if record is None:
        return False
    kind = state.parties[record.party].kind
    if kind is PartyKind.MEDIATOR:
        return True
    if kind is PartyKind.WITNESS:
        return False
    if isinstance(event, ATTESTATION_EVENTS):
        return attestation_visible(state, record.party, event)
    if isinstance(event, ESCROW_EVENTS):
        return escrow_visible(state, record.party, event)
    return _party_sees(state, record.party, event)


def _author(state: TrackState, message_id: str) -> str | None:
    message = state.messages.get(message_id)
    return None if message is None else message.party


def _party_sees(state: TrackState, party: str, event: Event) -> bool:  # noqa: PLR0911 - one answer per event family
    if isinstance(event, _PUBLIC):
        return True
    if isinstance(event, _AGREEMENTS):
        return state.parties[party].kind is PartyKind.DELEGATION
    if isinstance(event, TEXT_EVENTS):
        return text.party_sees_text(state, party, event)
    if isinstance(event, MessageSubmitted):
        return party_of(event.by) == party
    if isinstance(event, MessageReframed):
        return party in event.to_parties
    if isinstance(event, ObligationEvent):
        record = state.obligations.get(event.obligation)
        return record is not None and obligation_visible_to(state, party, record)
    addressed: tuple[str, ...]
    about: tuple[str, ...]
    if isinstance(event, MessageForwarded):
        addressed, about = event.to_parties, (event.message_id,)
    elif isinstance(event, ReceiptRecorded):
        addressed, about = (event.party,), event.message_ids
    else:
        assert isinstance(event, (MessageDeadLettered, MessageEscalated))  # the last event types
        addressed, about = (event.party,), (event.message_id,)
    return party in addressed or any(_author(state, m) == party for m in about)


def annex_readable_by(state: TrackState, member: str, digest: bytes, uploaders: Collection[str]) -> bool:
    """True if ``member`` may read the annex ``digest`` (see the module docstring).

    Args:
        state: The track's state.
        member: The reader's member id.
        digest: The annex's SHA-256.
        uploaders: The parties that uploaded the annex.
    """
    record = state.members.get(member)
    if record is None:
        return False
    party = record.party
    if party in uploaders or state.parties[party].kind is PartyKind.MEDIATOR:
        return True
    return any(party in m.deliveries and digest in m.annexes for m in state.messages.values())
