"""Liveness of parties: members heartbeat, and a party silent past its window shows as silent.

A party is online while any of its members heart-beat within the window, so a
unilateral signal drop is detected, not discovered late. This module does NOT
read a clock, time anything out by itself, stop delivery to a silent party
(messages are stored and forwarded) or persist heartbeats: they are runtime
state, and after a restart every party is ``never_seen`` until it heartbeats.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from backchannel.broker._time import utc
from backchannel.errors import ConfigurationError

__all__ = ["PartyPresence", "Presence", "PresenceStatus"]


class PresenceStatus(StrEnum):
    """Whether a party is reachable."""

    ONLINE = "online"
    """A member heart-beat within the window."""
    SILENT = "silent"
    """Heart-beat before, but no member within the window."""
    NEVER_SEEN = "never_seen"
    """No member has heart-beat (since the service started)."""


@dataclass(frozen=True, slots=True)
class PartyPresence:
    """A snapshot of one party's liveness.

    Attributes:
        party: The party.
        status: Online, silent or never seen.
        last_heartbeat: The latest heartbeat of any member, if any.
        silent_since: When it went silent (last heartbeat plus the window), if silent.
        members_online: The members that heart-beat within the window, sorted.
        heartbeats: Each member's latest heartbeat, sorted by member (not compared: a detail
            of ``last_heartbeat``; the coordination log's bookings at risk read it).
    """

    party: str
    status: PresenceStatus
    last_heartbeat: datetime | None
    silent_since: datetime | None
    members_online: tuple[str, ...]
    heartbeats: tuple[tuple[str, datetime], ...] = field(default=(), compare=False)


class Presence:
    """Heartbeats of members, judged per party against one window.

    Args:
        window: How long a heartbeat keeps its party online.

    Raises:
        ConfigurationError: the window is zero or negative.
    """

    def __init__(self, window: timedelta) -> None:
        """Create an empty register."""
        if window <= timedelta(0):
            raise ConfigurationError(f"heartbeat window must be > 0, got {window}")
        self.window = window
        self._beats: dict[str, dict[str, datetime]] = {}

    def expect(self, party: str) -> None:
        """Name a party that should heartbeat, so snapshots list it even if never seen.

        Args:
            party: The party (e.g. when it is admitted to the track).
        """
        self._beats.setdefault(party, {})

    def heartbeat(self, member: str, party: str, now: datetime) -> None:
        """Record that a member is alive. An older heartbeat never replaces a newer one.

        Args:
            member: The member id, ``party/name``.
            party: The member's party.
            now: The current time.

        Raises:
            ValueError: the member is not of ``party``, or ``now`` is naive.
        """
        if not member.startswith(f"{party}/") or member == f"{party}/":
            raise ValueError(f"member {member!r} is not a member of party {party!r} (ids are party/name)")
        now = utc(now)
        members = self._beats.setdefault(party, {})
        members[member] = max(now, members.get(member, now))

    def status(self, party: str, now: datetime) -> PresenceStatus:
        """Whether ``party`` is online, silent or never seen at ``now``.

        Raises:
            ValueError: ``now`` is naive.
        """
        last = self._last(party)
        if last is None:
            return PresenceStatus.NEVER_SEEN
        return PresenceStatus.ONLINE if utc(now) - last <= self.window else PresenceStatus.SILENT

    def silent_since(self, party: str, now: datetime) -> datetime | None:
        """When ``party`` went silent (its last heartbeat plus the window).

        Returns:
            That time if the party is silent at ``now``; None if online or never seen.

        Raises:
            ValueError: ``now`` is naive.
        """
        if self.status(party, now) is not PresenceStatus.SILENT:
            return None
        last = self._last(party)
        assert last is not None
        return last + self.window

    def parties(self, now: datetime) -> tuple[PartyPresence, ...]:
        """A snapshot of every party seen or expected, sorted by party.

        Raises:
            ValueError: ``now`` is naive.
        """
        return tuple(self._snapshot(party, utc(now)) for party in sorted(self._beats))

    def _snapshot(self, party: str, now: datetime) -> PartyPresence:
        online = tuple(sorted(m for m, at in self._beats[party].items() if now - at <= self.window))
        return PartyPresence(
            party=party,
            status=self.status(party, now),
            last_heartbeat=self._last(party),
            silent_since=self.silent_since(party, now),
            members_online=online,
            heartbeats=tuple(sorted(self._beats[party].items())),
        )

    def _last(self, party: str) -> datetime | None:
        return max(self._beats.get(party, {}).values(), default=None)
