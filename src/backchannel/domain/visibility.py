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

Each event's rule for delegation and inspector parties is the one its
feature registered (:mod:`backchannel.domain.features`); an event class that
no feature registers is refused with an ``EncodingError``, not shown. Unknown
members see nothing, and so does anyone for an event naming a message the
state does not hold (fail closed). This module does not filter salts or
bodies itself; the service gives a reader exactly the events (and salts) for
which this returns true.
"""

from __future__ import annotations

from collections.abc import Collection

from backchannel.domain._event_base import Event
from backchannel.domain.features import REGISTRY
from backchannel.domain.ids import PartyKind
from backchannel.domain.state import TrackState

__all__ = ["annex_readable_by", "visible_to"]


def visible_to(state: TrackState, member: str, event: Event) -> bool:
    """True if ``member`` may see ``event`` (see the module docstring).

    Args:
        state: The track's state, at or after the event.
        member: The reader's member id.
        event: An event of this track.
    """
    rule = REGISTRY.event_rule(type(event))
    record = state.members.get(member)
    if record is None:
        return False
    kind = state.parties[record.party].kind
    if kind is PartyKind.MEDIATOR:
        return True
    if kind is PartyKind.WITNESS:
        return False
    return rule.visible(state, record.party, event)


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
