"""Heartbeats per track, kept here and in the shared state, written coarsely (ADR-0059).

:class:`PresenceBook` holds one :class:`~backchannel.broker.Presence` per track
(exact, for this node's own heartbeats) and writes heartbeats to the shared
:class:`~backchannel.store.delivery_state.DeliveryState` at most once per member
per ``every`` (a tenth of the heartbeat window by default), not once per
request. A snapshot merges what the other nodes wrote (the later heartbeat of
a member wins), so a party heart-beating through node 1 is online on node 2.
Another node sees a heartbeat up to ``every`` late: within the window's tenth.

Not thread-safe on its own: the delivery service calls it under its lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from backchannel.broker import PartyPresence, Presence
from backchannel.store.delivery_state import DeliveryState, Heartbeat

__all__ = ["PresenceBook"]

_SHARE = 10
"""A heartbeat is written to the shared state at most once per this fraction of the window."""


class PresenceBook:
    """Heartbeats of every track's members, here and shared.

    Args:
        shared: The shared state.
        window: How long a heartbeat keeps its party online.
    """

    def __init__(self, shared: DeliveryState, window: timedelta) -> None:
        """Hold nothing yet."""
        self._shared = shared
        self._window = window
        self._every = window / _SHARE
        self._presence: dict[str, Presence] = {}
        self._written: dict[tuple[str, str], datetime] = {}

    def expect(self, track: str, parties: list[str]) -> None:
        """Name the parties of ``track`` that should heartbeat."""
        presence = self._presence.get(track)
        if presence is None:
            presence = self._presence[track] = Presence(self._window)
        for party in parties:
            presence.expect(party)

    def heartbeat(self, track: str, member: str, party: str, now: datetime) -> None:
        """Record a heartbeat here; share it unless this member's was shared less than ``every`` ago."""
        self.expect(track, [party])
        self._presence[track].heartbeat(member, party, now)
        written = self._written.get((track, member))
        if written is None or now - written >= self._every or now < written:
            self._shared.beat(track, [Heartbeat(member, party, now)])
            self._written[(track, member)] = now

    def parties(self, track: str, now: datetime) -> tuple[PartyPresence, ...]:
        """Every party's liveness on ``track``, with the heartbeats other nodes shared."""
        presence = self._presence[track]
        for beat in self._shared.heartbeats(track):
            presence.heartbeat(beat.member, beat.party, beat.at)
        return presence.parties(now)

    def tracks(self) -> list[str]:
        """The tracks with a register here, sorted."""
        return sorted(self._presence)
