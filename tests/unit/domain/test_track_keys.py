"""Opening a track, admitting parties, enrolling members and the key lifecycle."""

from datetime import UTC, datetime, timedelta

import pytest
from track_world import new_key

from backchannel.domain import (
    AdmitParty,
    EnrollMember,
    KeyRevoked,
    KeyRotated,
    MemberEnrolled,
    OpenTrack,
    PartyAdmitted,
    PartyKind,
    RevokeKey,
    Role,
    RotateKey,
    SubmitMessage,
    TrackOpened,
    decide,
)
from backchannel.domain.errors import (
    KeyExpiredError,
    KeyRevokedError,
    NotAuthorizedError,
    TrackStateError,
    UnknownKeyError,
    UnknownMemberError,
    UnknownPartyError,
)


def open_command(w, **fields):
    keys = {"principal_key": new_key("med/chair"), "service_key": new_key("med/service")}
    keys.update(fields)
    return w.cmd(OpenTrack, "med/chair", title="Talks", **keys)


def test_opening_a_track(make_world) -> None:
    w = make_world()
    w.keys["med/chair"] = new_key("med/chair")
    (event,) = w.run(open_command(w, idempotency_key="open-1"))
    assert isinstance(event, TrackOpened)
    assert (event.by, event.at, event.track, event.mediator) == ("med/chair", w.now, "talks", "med")
    s = w.s
    assert (s.track, s.title, s.mediator, s.opened_at, s.version) == ("talks", "Talks", "med", w.now, 1)
    assert s.party("med").kind is PartyKind.MEDIATOR
    assert s.service_member == "med/service"
    assert [(m.member, m.role) for m in s.members.values()] == [
        ("med/chair", Role.PRINCIPAL),
        ("med/service", Role.SERVICE),
    ]
    assert s.signing_key("med/service", new_key("med/service").key_id, w.now).enrolled_by == "med/chair"
    assert s.idempotent_result("med/chair", "open-1").events == (event,)


def test_opening_is_self_signed_with_fresh_distinct_keys(make_world) -> None:
    w = make_world()
    with pytest.raises(NotAuthorizedError, match="signed by the principal key it enrols"):
        w.decide(open_command(w, key_id=new_key("someone").key_id))
    with pytest.raises(TrackStateError, match="distinct keys"):
        w.decide(open_command(w, service_key=new_key("med/chair")))
    with pytest.raises(KeyExpiredError, match="expires at 2026-03-01T09:00:00.000000Z"):
        w.decide(open_command(w, principal_key=new_key("med/chair", expires_at=w.now)))
    with pytest.raises(KeyExpiredError) as info:
        w.decide(open_command(w, service_key=new_key("s", expires_at=w.now - timedelta(days=1))))
    assert info.value.key_id == new_key("s").key_id
    assert w.decide(open_command(w, principal_key=new_key("med/chair", expires_at=w.now + timedelta(days=1))))


def test_nothing_but_opening_before_the_track_is_open(make_world) -> None:
    w = make_world()
    with pytest.raises(TrackStateError, match="track talks is not open"):
        w.decide(w.cmd(RevokeKey, "med/chair", subject="med/chair", revoked_key_id=new_key("x").key_id))


def test_opening_twice_is_refused(world) -> None:
    with pytest.raises(TrackStateError, match="already open"):
        world.decide(open_command(world))


def test_commands_for_another_track_are_refused(world) -> None:
    with pytest.raises(TrackStateError, match="command for track other sent to track talks"):
        world.decide(world.cmd(SubmitMessage, "iran/lead", track="other", kind="statement", body={}))


def test_now_must_be_aware(world) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(world.state, open_command(world), datetime(2026, 1, 1))  # noqa: DTZ001


def test_admitting_parties(world) -> None:
    key = new_key("qatar/emir")
    (event,) = world.run(
        world.cmd(
            AdmitParty,
            "med/chair",
            party="qatar",
            kind=PartyKind.INSPECTOR,
            principal="qatar/emir",
            principal_key=key,
        )
    )
    assert isinstance(event, PartyAdmitted)
    assert world.s.party("qatar").admitted_by == "med/chair"
    assert world.s.member("qatar/emir").role is Role.PRINCIPAL
    with pytest.raises(TrackStateError, match="party qatar is already part of track talks"):
        world.decide(
            world.cmd(
                AdmitParty,
                "med/chair",
                party="qatar",
                kind="delegation",
                principal="qatar/x",
                principal_key=new_key("q"),
            )
        )
    with pytest.raises(TrackStateError, match=f"key {key.key_id} was already enrolled for qatar/emir"):
        world.decide(
            world.cmd(
                AdmitParty,
                "med/chair",
                party="oman",
                kind="delegation",
                principal="oman/x",
                principal_key=key,
            )
        )


def test_enrolling_members(world) -> None:
    (event,) = world.run(
        world.cmd(
            EnrollMember, "iran/lead", new_member="iran/second", role=Role.PRINCIPAL, new_key=new_key("i2")
        )
    )
    assert isinstance(event, MemberEnrolled)
    assert [m.member for m in world.s.members_of("iran", Role.PRINCIPAL)] == ["iran/lead", "iran/second"]
    assert [m.member for m in world.s.members_of("iran")] == [
        "iran/lead",
        "iran/deputy",
        "iran/watcher",
        "iran/second",
    ]
    with pytest.raises(TrackStateError, match="iran/second is already enrolled"):
        world.decide(
            world.cmd(
                EnrollMember, "iran/lead", new_member="iran/second", role="delegate", new_key=new_key("i3")
            )
        )
    with pytest.raises(UnknownPartyError, match="party 'oman' is not part of track talks"):
        world.decide(
            world.cmd(EnrollMember, "iran/lead", new_member="oman/x", role="delegate", new_key=new_key("o"))
        )
    with pytest.raises(NotAuthorizedError, match="only a principal of usa may"):
        world.decide(
            world.cmd(EnrollMember, "iran/lead", new_member="usa/x", role="delegate", new_key=new_key("u"))
        )
    with pytest.raises(NotAuthorizedError, match="only a principal of iran may"):
        world.decide(
            world.cmd(EnrollMember, "iran/deputy", new_member="iran/x", role="delegate", new_key=new_key("u"))
        )
    with pytest.raises(KeyExpiredError):
        world.decide(
            world.cmd(
                EnrollMember,
                "iran/lead",
                new_member="iran/x",
                role="delegate",
                new_key=new_key("u", expires_at=world.now),
            )
        )


def test_the_signing_key_must_be_the_members_and_usable(world) -> None:
    s = world.s
    assert (
        s.signing_key("iran/lead", world.keys["iran/lead"].key_id, world.now).key_id
        == world.keys["iran/lead"].key_id
    )
    with pytest.raises(UnknownMemberError, match="member 'iran/ghost' is not enrolled in track talks"):
        s.signing_key("iran/ghost", world.keys["iran/lead"].key_id, world.now)
    with pytest.raises(UnknownKeyError, match="no key ed25519:"):
        s.signing_key("iran/lead", new_key("never").key_id, world.now)
    with pytest.raises(NotAuthorizedError, match="belongs to usa/lead, not to iran/lead"):
        s.signing_key("iran/lead", world.keys["usa/lead"].key_id, world.now)
    # decide checks it first, for any command
    forged = world.cmd(
        SubmitMessage, "iran/lead", key_id=world.keys["usa/lead"].key_id, kind="statement", body={}
    )
    with pytest.raises(NotAuthorizedError):
        world.decide(forged)


def test_rotation_by_the_member_itself_revokes_the_old_key_at_that_instant(world) -> None:
    old = world.keys["iran/deputy"]
    new = new_key("iran/deputy#2")
    (event,) = world.run(
        world.cmd(RotateKey, "iran/deputy", subject="iran/deputy", old_key_id=old.key_id, new_key=new)
    )
    assert isinstance(event, KeyRotated)
    record = world.s.member("iran/deputy")
    assert [(k.key_id, k.revoked_at) for k in record.keys] == [(old.key_id, world.now), (new.key_id, None)]
    assert world.s.key_owners[new.key_id] == "iran/deputy"
    with pytest.raises(KeyRevokedError) as info:
        world.decide(world.cmd(SubmitMessage, "iran/deputy", key_id=old.key_id, kind="statement", body={}))
    assert str(info.value) == f"key {old.key_id} was revoked at 2026-03-01T09:01:00.000000Z"
    world.keys["iran/deputy"] = new
    assert world.decide(world.cmd(SubmitMessage, "iran/deputy", kind="statement", body={}))


def test_rotation_by_the_principal_and_its_limits(world) -> None:
    old = world.keys["iran/watcher"]
    world.run(
        world.cmd(
            RotateKey, "iran/lead", subject="iran/watcher", old_key_id=old.key_id, new_key=new_key("w2")
        )
    )
    with pytest.raises(KeyRevokedError, match="already revoked"):
        world.decide(
            world.cmd(
                RotateKey, "iran/lead", subject="iran/watcher", old_key_id=old.key_id, new_key=new_key("w3")
            )
        )
    with pytest.raises(UnknownKeyError, match="iran/watcher holds no key"):
        world.decide(
            world.cmd(
                RotateKey,
                "iran/lead",
                subject="iran/watcher",
                old_key_id=new_key("zz").key_id,
                new_key=new_key("w3"),
            )
        )
    with pytest.raises(NotAuthorizedError, match="only the member itself or a principal of iran may"):
        world.decide(
            world.cmd(
                RotateKey,
                "usa/lead",
                subject="iran/watcher",
                old_key_id=new_key("w2").key_id,
                new_key=new_key("w3"),
            )
        )
    with pytest.raises(NotAuthorizedError, match="rotate keys for iran/lead"):
        world.decide(
            world.cmd(
                RotateKey,
                "iran/deputy",
                subject="iran/lead",
                old_key_id=world.keys["iran/lead"].key_id,
                new_key=new_key("l"),
            )
        )
    with pytest.raises(TrackStateError, match="already enrolled"):
        world.decide(
            world.cmd(
                RotateKey, "iran/lead", subject="iran/watcher", old_key_id=new_key("w2").key_id, new_key=old
            )
        )
    with pytest.raises(UnknownMemberError):
        world.decide(
            world.cmd(
                RotateKey, "iran/lead", subject="iran/ghost", old_key_id=old.key_id, new_key=new_key("g")
            )
        )


def test_an_expired_key_is_refused_from_that_instant_and_can_be_rotated_by_a_principal(world) -> None:
    world.enroll("usa/temp", Role.DELEGATE, expires_at=world.now + timedelta(hours=1))
    temp = world.keys["usa/temp"]
    world.tick(3599)
    assert world.decide(world.cmd(SubmitMessage, "usa/temp", kind="statement", body={}))
    world.tick(1)
    with pytest.raises(KeyExpiredError) as info:
        world.decide(world.cmd(SubmitMessage, "usa/temp", kind="statement", body={}))
    assert info.value.key_id == temp.key_id
    assert info.value.when == world.now
    assert str(info.value) == f"key {temp.key_id} expired at 2026-03-01T10:01:00.000000Z"
    world.run(
        world.cmd(RotateKey, "usa/lead", subject="usa/temp", old_key_id=temp.key_id, new_key=new_key("t2"))
    )
    world.keys["usa/temp"] = new_key("t2")
    assert world.decide(world.cmd(SubmitMessage, "usa/temp", kind="statement", body={}))


def test_revocation(world) -> None:
    deputy = world.keys["iran/deputy"]
    (event,) = world.run(
        world.cmd(RevokeKey, "iran/deputy", subject="iran/deputy", revoked_key_id=deputy.key_id)
    )
    assert isinstance(event, KeyRevoked)
    assert world.s.member("iran/deputy").keys[0].revoked_at == world.now
    with pytest.raises(
        KeyRevokedError, match=f"key {deputy.key_id} was revoked at 2026-03-01T09:01:00.000000Z"
    ):
        world.decide(world.cmd(SubmitMessage, "iran/deputy", kind="statement", body={}))
    with pytest.raises(KeyRevokedError, match="already revoked"):
        world.decide(world.cmd(RevokeKey, "iran/lead", subject="iran/deputy", revoked_key_id=deputy.key_id))
    with pytest.raises(UnknownKeyError):
        world.decide(
            world.cmd(RevokeKey, "iran/lead", subject="iran/deputy", revoked_key_id=new_key("q").key_id)
        )
    with pytest.raises(NotAuthorizedError, match="revoke keys for iran/watcher"):
        world.decide(
            world.cmd(
                RevokeKey,
                "usa/lead",
                subject="iran/watcher",
                revoked_key_id=world.keys["iran/watcher"].key_id,
            )
        )
    world.run(
        world.cmd(
            RevokeKey, "iran/lead", subject="iran/watcher", revoked_key_id=world.keys["iran/watcher"].key_id
        )
    )


def test_a_party_keeps_at_least_one_usable_principal_key(world) -> None:
    lead = world.keys["iran/lead"]
    with pytest.raises(TrackStateError, match=f"{lead.key_id} is the last usable principal key of iran"):
        world.decide(world.cmd(RevokeKey, "iran/lead", subject="iran/lead", revoked_key_id=lead.key_id))
    world.enroll("iran/second", Role.PRINCIPAL, expires_at=world.now + timedelta(minutes=5))
    world.run(world.cmd(RevokeKey, "iran/lead", subject="iran/lead", revoked_key_id=lead.key_id))
    assert [k.key_id for k in world.s.usable_principal_keys("iran", world.now)] == [
        world.keys["iran/second"].key_id
    ]
    world.tick(600)  # the second principal's key has expired too: the party has no usable principal key
    assert world.s.usable_principal_keys("iran", world.now) == ()


def test_revoking_an_expired_principal_key_is_allowed(world) -> None:
    world.enroll("usa/second", Role.PRINCIPAL, expires_at=world.now + timedelta(minutes=5))
    world.tick(600)
    second = world.keys["usa/second"]
    events = world.run(world.cmd(RevokeKey, "usa/lead", subject="usa/second", revoked_key_id=second.key_id))
    assert events[0].key_id == second.key_id
    assert [k.key_id for k in world.s.usable_principal_keys("usa", world.now)] == [
        world.keys["usa/lead"].key_id
    ]


def test_key_ids_are_never_reused_even_after_revocation(world) -> None:
    deputy = world.keys["iran/deputy"]
    world.run(world.cmd(RevokeKey, "iran/lead", subject="iran/deputy", revoked_key_id=deputy.key_id))
    with pytest.raises(TrackStateError, match="already enrolled for iran/deputy"):
        world.decide(
            world.cmd(EnrollMember, "iran/lead", new_member="iran/new", role="delegate", new_key=deputy)
        )
    assert world.s.key_owners[deputy.key_id] == "iran/deputy"


def test_times_in_messages_are_utc(world) -> None:
    key = new_key("x", expires_at=datetime(2026, 3, 1, 10, 0, tzinfo=UTC) + timedelta(hours=-2))
    with pytest.raises(
        KeyExpiredError, match="expires at 2026-03-01T08:00:00.000000Z, not after 2026-03-01T09:01:00.000000Z"
    ):
        world.decide(world.cmd(EnrollMember, "iran/lead", new_member="iran/x", role="delegate", new_key=key))
