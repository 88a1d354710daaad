"""The state under construction while events are applied: :class:`Draft` (private to the domain).

:func:`~backchannel.domain.evolve.evolve` and :func:`~backchannel.domain.evolve.fold`
build one ``Draft`` per call; each feature's apply function
(:mod:`backchannel.domain.registry`) changes it for one event. It copies a
state's collections only when an event changes them, so applying an event
costs one copy of the collections it touches. :meth:`Draft.freeze` returns the
new immutable :class:`~backchannel.domain.state.TrackState`.

This module does not know any event type: it neither dispatches nor decides.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from immutables import Map, MapMutation

from backchannel.domain._event_base import Event
from backchannel.domain.agreements.obligations import ObligationRecord
from backchannel.domain.ids import Role, party_of
from backchannel.domain.keys import NewKey
from backchannel.domain.records import (
    Delivery,
    IdempotentResult,
    MemberRecord,
    MessageRecord,
    PartyRecord,
)
from backchannel.domain.state import TrackState

__all__ = ["Draft"]


class Draft:
    """A state under construction; copies each collection of ``base`` on first write."""

    def __init__(self, base: TrackState) -> None:
        self.base = base
        self.agenda = base.agenda
        self.version = base.version
        self.deals = base.deals  # persistent maps (issue #4): each event sets one key
        self.commitments = base.commitments
        self.attestations = base.attestations
        self.escrows = base.escrows
        self.texts = base.texts
        self.forecasts = base.forecasts
        self.coordination = base.coordination
        self._parties: dict[str, PartyRecord] | None = None
        self._members: dict[str, MemberRecord] | None = None
        self._key_owners: dict[str, str] | None = None
        self._messages: MapMutation[str, MessageRecord] | None = None
        self._idempotency: MapMutation[tuple[str, str], IdempotentResult] | None = None
        self._obligations: MapMutation[str, ObligationRecord] | None = None

    @property
    def parties(self) -> dict[str, PartyRecord]:
        if self._parties is None:
            self._parties = dict(self.base.parties)
        return self._parties

    @property
    def members(self) -> dict[str, MemberRecord]:
        if self._members is None:
            self._members = dict(self.base.members)
        return self._members

    @property
    def key_owners(self) -> dict[str, str]:
        if self._key_owners is None:
            self._key_owners = dict(self.base.key_owners)
        return self._key_owners

    @property
    def messages(self) -> MapMutation[str, MessageRecord]:
        # Persistent (HAMT) like idempotency: a track's messages grow without bound, and
        # every reader either looks one up or sorts (pending_for sorts by log order).
        if self._messages is None:
            base = self.base.messages
            assert isinstance(base, Map)  # every state is built by _start and evolve
            self._messages = base.mutate()
        return self._messages

    @property
    def idempotency(self) -> MapMutation[tuple[str, str], IdempotentResult]:
        # A persistent map (HAMT): O(log n) per command instead of copying every key
        # ever used. Lookups only, so its hash order does not matter.
        if self._idempotency is None:
            base = self.base.idempotency
            assert isinstance(base, Map)  # every state is built by _start and evolve
            self._idempotency = base.mutate()
        return self._idempotency

    @property
    def obligations(self) -> MapMutation[str, ObligationRecord]:
        # Persistent like messages: one obligation changes per metered record.
        if self._obligations is None:
            base = self.base.obligations
            assert isinstance(base, Map)  # every state is built by _start and evolve
            self._obligations = base.mutate()
        return self._obligations

    def freeze(self) -> TrackState:
        """The state built so far (the draft must not be used afterwards)."""
        base = self.base
        return replace(
            base,
            parties=base.parties if self._parties is None else MappingProxyType(self._parties),
            members=base.members if self._members is None else MappingProxyType(self._members),
            key_owners=base.key_owners if self._key_owners is None else MappingProxyType(self._key_owners),
            agenda=self.agenda,
            messages=base.messages if self._messages is None else self._messages.finish(),
            idempotency=base.idempotency if self._idempotency is None else self._idempotency.finish(),
            version=self.version,
            deals=self.deals,
            commitments=self.commitments,
            attestations=self.attestations,
            escrows=self.escrows,
            texts=self.texts,
            forecasts=self.forecasts,
            coordination=self.coordination,
            obligations=base.obligations if self._obligations is None else self._obligations.finish(),
        )

    def advance(self, event: Event) -> None:
        """Count ``event`` (it was applied) and remember it under its idempotency key."""
        self.version += 1
        if event.idempotency_key is not None:
            self._remember(event, event.idempotency_key)

    def _remember(self, event: Event, key: str) -> None:
        slot = (event.by, key)
        first = self.idempotency.get(slot)
        if first is not None and first.command_digest == event.command_digest:
            self.idempotency[slot] = replace(first, events=(*first.events, event))
        else:
            self.idempotency[slot] = IdempotentResult(event.command_digest, (event,))

    def add_member(self, member: str, role: Role, key: NewKey, event: Event) -> None:
        """Enrol ``member`` with its first key, as ``event`` did."""
        self.members[member] = MemberRecord(
            member, party_of(member), role, event.at, event.by, (key.enrol(event.at, event.by),)
        )
        self.key_owners[key.key_id] = member

    def set_delivery(self, message_id: str, delivery: Delivery) -> None:
        """Replace one delivery of a message."""
        message = self.messages[message_id]
        deliveries = MappingProxyType({**message.deliveries, delivery.party: delivery})
        self.messages[message_id] = replace(message, deliveries=deliveries)

    def delivery(self, message_id: str, party: str) -> Delivery:
        """One delivery of a message (KeyError if there is none)."""
        return self.messages[message_id].deliveries[party]
