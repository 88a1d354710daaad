"""Bookings at risk: a booked person who has gone offline (issue #12, item 2; ADR-0053).

A person resource names a member (``person:usa/principal`` names
``usa/principal``). The member heart-beats on each track where it is enrolled
(the delivery service keeps the last heartbeat per track and member). A member
whose last heartbeat on some track is older than the heartbeat window is
**offline** there since that heartbeat plus the window, the same rule as a
party's ``silent`` presence. Every booking of its person resource (and every
booking it holds itself) that has not ended is then **at risk**, with the
reason ``"usa/principal offline since T (silent on us-iran-nuclear)"``.

A member never seen since the service started is not offline: heartbeats are
runtime state, so after a restart nobody is at risk until someone goes silent
again. This module is pure: the heartbeats, the window and the instant are
arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from backchannel.coordination.calendar import Booking, Resource, ResourceKind

__all__ = ["Liveness", "Offline", "bookings_at_risk", "member_of", "offline_members"]

_PERSON = "person:"


@dataclass(frozen=True, slots=True)
class Liveness:
    """Every member's last heartbeat on each track (``track -> member -> time``) and the window."""

    heartbeats: Mapping[str, Mapping[str, datetime]]
    window: timedelta


@dataclass(frozen=True, slots=True)
class Offline:
    """A member silent on ``track`` since ``since`` (its last heartbeat there plus the window)."""

    member: str
    since: datetime
    track: str

    def describe(self) -> str:
        """``"usa/principal offline since 2026-12-06T20:01:30+00:00 (silent on us-iran-nuclear)"``."""
        return f"{self.member} offline since {self.since.isoformat()} (silent on {self.track})"


def member_of(name: str) -> str | None:
    """The member a person resource or a holder names (``person:usa/principal`` -> ``usa/principal``).

    Member ids are ``party/name``; anything else (a track, a meeting) names no member.
    """
    party, slash, rest = name.removeprefix(_PERSON).partition("/")
    return f"{party}/{rest}" if slash and party and rest and "/" not in rest else None


def offline_members(liveness: Liveness, now: datetime) -> dict[str, Offline]:
    """Each member silent on some track at ``now``: its earliest silence (ties: the first track by name)."""
    found: dict[str, Offline] = {}
    for track in sorted(liveness.heartbeats):
        for member, last in liveness.heartbeats[track].items():
            if now - last <= liveness.window:
                continue
            since = last + liveness.window
            known = found.get(member)
            if known is None or since < known.since:
                found[member] = Offline(member, since, track)
    return found


def bookings_at_risk(
    resources: Mapping[str, Resource],
    bookings: Iterable[Booking],
    offline: Mapping[str, Offline],
    now: datetime,
) -> dict[str, Offline]:
    """The bookings not yet ended whose person resource, or whose holder, is an offline member, by id."""
    risky: dict[str, Offline] = {}
    for booking in bookings:
        if booking.end <= now:
            continue
        resource = resources.get(booking.resource)
        person = member_of(booking.resource) if resource and resource.kind is ResourceKind.PERSON else None
        for member in (person, member_of(booking.holder)):
            if member is not None and member in offline:
                risky[booking.booking_id] = offline[member]
                break
    return risky
