from datetime import UTC, datetime, timedelta

import pytest

from backchannel.broker import PartyPresence, Presence, PresenceStatus
from backchannel.errors import ConfigurationError

WINDOW = timedelta(seconds=90)
ONLINE, SILENT, NEVER = PresenceStatus.ONLINE, PresenceStatus.SILENT, PresenceStatus.NEVER_SEEN


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def test_a_party_never_seen(t0) -> None:
    presence = Presence(WINDOW)
    assert presence.status("iran", t0) is NEVER
    assert presence.silent_since("iran", t0) is None
    assert presence.parties(t0) == ()


def test_online_within_the_window_then_silent(t0) -> None:
    presence = Presence(WINDOW)
    presence.heartbeat("iran/araghchi", "iran", t0)
    assert presence.status("iran", t0) is ONLINE
    assert presence.status("iran", t0 + WINDOW) is ONLINE
    assert presence.silent_since("iran", t0 + WINDOW) is None
    later = t0 + WINDOW + timedelta(microseconds=1)
    assert presence.status("iran", later) is SILENT
    assert presence.silent_since("iran", later) == t0 + WINDOW
    presence.heartbeat("iran/araghchi", "iran", t0 + s(500))
    assert presence.status("iran", t0 + s(500)) is ONLINE


def test_any_member_keeps_the_party_online(t0) -> None:
    presence = Presence(WINDOW)
    presence.heartbeat("usa/witkoff", "usa", t0)
    presence.heartbeat("usa/rubio", "usa", t0 + s(60))
    assert presence.status("usa", t0 + s(120)) is ONLINE
    assert presence.status("usa", t0 + s(151)) is SILENT
    assert presence.silent_since("usa", t0 + s(151)) == t0 + s(150)


def test_an_older_heartbeat_never_replaces_a_newer_one(t0) -> None:
    presence = Presence(WINDOW)
    presence.heartbeat("usa/rubio", "usa", t0 + s(60))
    presence.heartbeat("usa/rubio", "usa", t0)  # delivered out of order
    assert presence.status("usa", t0 + s(120)) is ONLINE


def test_parties_snapshot(t0) -> None:
    presence = Presence(WINDOW)
    presence.expect("oman")
    presence.heartbeat("usa/witkoff", "usa", t0)
    presence.heartbeat("usa/rubio", "usa", t0 + s(60))
    presence.heartbeat("iran/araghchi", "iran", t0)
    presence.expect("usa")  # already seen: nothing changes
    assert presence.parties(t0 + s(100)) == (
        PartyPresence("iran", SILENT, t0, t0 + WINDOW, ()),
        PartyPresence("oman", NEVER, None, None, ()),
        PartyPresence("usa", ONLINE, t0 + s(60), None, ("usa/rubio",)),
    )
    assert presence.status("oman", t0) is NEVER


@pytest.mark.parametrize(("member", "party"), [("usa/rubio", "iran"), ("usa", "usa"), ("usa/", "usa")])
def test_a_member_must_belong_to_its_party(t0, member, party) -> None:
    with pytest.raises(ValueError, match="party/name"):
        Presence(WINDOW).heartbeat(member, party, t0)


def test_times_must_be_aware_and_windows_positive(t0) -> None:
    presence = Presence(WINDOW)
    naive = datetime(2026, 1, 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="naive"):
        presence.heartbeat("usa/rubio", "usa", naive)
    presence.heartbeat("usa/rubio", "usa", t0)
    with pytest.raises(ValueError, match="naive"):
        presence.status("usa", naive)
    with pytest.raises(ValueError, match="naive"):
        presence.parties(naive)
    for window in (timedelta(0), s(-1)):
        with pytest.raises(ConfigurationError, match="window"):
            Presence(window)
    assert presence.parties(t0)[0].last_heartbeat.tzinfo is UTC  # type: ignore[union-attr]
