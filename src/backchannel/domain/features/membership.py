"""The membership and keys feature: open the track, admit parties, enrol members, rotate and revoke keys.

Role matrix (see :mod:`backchannel.domain.track` for the whole track's):
``OpenTrack`` is self-signed by the mediator's first principal;
``AdmitParty`` needs a mediator principal; ``EnrollMember`` a principal of the
new member's own party; ``RotateKey``/``RevokeKey`` the member itself or a
principal of its party. A principal's last usable key cannot be revoked.

Every event of this feature is public track metadata: every member party
sees it. This module reads no clock and verifies no signature.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from backchannel.domain._draft import Draft
from backchannel.domain._event_base import Event
from backchannel.domain._rules import check_new_key, require, require_governor, stamp
from backchannel.domain.commands import AdmitParty, EnrollMember, OpenTrack, RevokeKey, RotateKey
from backchannel.domain.errors import KeyRevokedError, NotAuthorizedError, TrackStateError, UnknownKeyError
from backchannel.domain.ids import PartyKind, Role, party_of, service_member
from backchannel.domain.keys import KeyRecord, time_text
from backchannel.domain.records import MemberRecord, PartyRecord
from backchannel.domain.registry import Feature, command, event, everyone_sees
from backchannel.domain.state import TrackState
from backchannel.domain.track_events import KeyRevoked, KeyRotated, MemberEnrolled, PartyAdmitted, TrackOpened

__all__ = ["MEMBERSHIP", "open_track"]

_MEDIATOR = (PartyKind.MEDIATOR,)
_PRINCIPAL = (Role.PRINCIPAL,)


def _already_open(state: TrackState, command: OpenTrack, now: datetime) -> list[Event]:
    del command, now
    raise TrackStateError(f"track {state.track} is already open")


def open_track(command: OpenTrack, now: datetime) -> list[Event]:
    """Decide :class:`OpenTrack` on a track not open yet (self-signed by its first principal)."""
    if command.key_id != command.principal_key.key_id:
        raise NotAuthorizedError(
            f"OpenTrack must be signed by the principal key it enrols, not {command.key_id}"
        )
    if command.service_key.key_id == command.principal_key.key_id:
        raise TrackStateError("the principal and the service need distinct keys")
    check_new_key(None, command.principal_key, now)
    check_new_key(None, command.service_key, now)
    return [
        TrackOpened(
            **stamp(command, now),
            track=command.track,
            title=command.title,
            principal_key=command.principal_key,
            service_key=command.service_key,
        )
    ]


def _admit_party(state: TrackState, command: AdmitParty, now: datetime) -> list[Event]:
    require(state, command.member, _MEDIATOR, _PRINCIPAL, "admit parties")
    if command.party in state.parties:
        raise TrackStateError(f"party {command.party} is already part of track {state.track}")
    check_new_key(state, command.principal_key, now)
    return [
        PartyAdmitted(
            **stamp(command, now),
            party=command.party,
            kind=command.kind,
            principal=command.principal,
            principal_key=command.principal_key,
        )
    ]


def _enroll_member(state: TrackState, command: EnrollMember, now: datetime) -> list[Event]:
    party = state.party(party_of(command.new_member)).party
    signer = state.member(command.member)
    if signer.party != party or signer.role is not Role.PRINCIPAL:
        raise NotAuthorizedError(
            f"{command.member} may not enrol {command.new_member}: only a principal of {party} may"
        )
    if command.new_member in state.members:
        raise TrackStateError(f"{command.new_member} is already enrolled")
    check_new_key(state, command.new_key, now)
    return [
        MemberEnrolled(
            **stamp(command, now), member=command.new_member, role=command.role, key=command.new_key
        )
    ]


def _rotate_key(state: TrackState, command: RotateKey, now: datetime) -> list[Event]:
    subject = state.member(command.subject)
    require_governor(state, command.member, subject, "rotate keys")
    _live_key(subject.member, state, command.old_key_id)
    check_new_key(state, command.new_key, now)
    return [
        KeyRotated(
            **stamp(command, now), member=subject.member, old_key_id=command.old_key_id, key=command.new_key
        )
    ]


def _revoke_key(state: TrackState, command: RevokeKey, now: datetime) -> list[Event]:
    subject = state.member(command.subject)
    require_governor(state, command.member, subject, "revoke keys")
    key = _live_key(subject.member, state, command.revoked_key_id)
    if subject.role is Role.PRINCIPAL and key.usable_at(now):
        others = [k for k in state.usable_principal_keys(subject.party, now) if k.key_id != key.key_id]
        if not others:
            raise TrackStateError(
                f"{key.key_id} is the last usable principal key of {subject.party}: enrol or rotate first"
            )
    return [KeyRevoked(**stamp(command, now), member=subject.member, key_id=key.key_id)]


def _live_key(member: str, state: TrackState, key_id: str) -> KeyRecord:
    key = state.member(member).key(key_id)
    if key is None:
        raise UnknownKeyError(f"{member} holds no key {key_id}")
    if key.revoked_at is not None:
        raise KeyRevokedError(
            f"key {key_id} was already revoked at {time_text(key.revoked_at)}",
            key_id=key_id,
            when=key.revoked_at,
        )
    return key


def _track_opened(draft: Draft, event: TrackOpened) -> None:
    if draft.version:
        raise TrackStateError(f"track {draft.base.track} is already open")
    draft.parties[event.mediator] = PartyRecord(event.mediator, PartyKind.MEDIATOR, event.at, event.by)
    draft.add_member(event.by, Role.PRINCIPAL, event.principal_key, event)
    draft.add_member(service_member(event.mediator), Role.SERVICE, event.service_key, event)


def _revoke(draft: Draft, member_id: str, key_id: str, event: Event) -> MemberRecord:
    member = draft.members[member_id]
    keys = tuple(replace(k, revoked_at=event.at) if k.key_id == key_id else k for k in member.keys)
    if keys == member.keys:
        raise KeyError(key_id)
    updated = replace(member, keys=keys)
    draft.members[member_id] = updated
    return updated


def _key_rotated(draft: Draft, event: KeyRotated) -> None:
    member = _revoke(draft, event.member, event.old_key_id, event)
    draft.members[event.member] = replace(member, keys=(*member.keys, event.key.enrol(event.at, event.by)))
    draft.key_owners[event.key.key_id] = event.member


def _party_admitted(draft: Draft, event: PartyAdmitted) -> None:
    draft.parties[event.party] = PartyRecord(event.party, event.kind, event.at, event.by)
    draft.add_member(event.principal, Role.PRINCIPAL, event.principal_key, event)


def _member_enrolled(draft: Draft, event: MemberEnrolled) -> None:
    draft.add_member(event.member, event.role, event.key, event)


def _key_revoked(draft: Draft, event: KeyRevoked) -> None:
    _revoke(draft, event.member, event.key_id, event)


MEMBERSHIP = Feature(
    "membership",
    commands=(
        command(OpenTrack, "open_track", _already_open),  # before the track: see track.decide
        command(AdmitParty, "admit_party", _admit_party),
        command(EnrollMember, "enroll_member", _enroll_member),
        command(RotateKey, "rotate_key", _rotate_key),
        command(RevokeKey, "revoke_key", _revoke_key),
    ),
    events=(
        event(TrackOpened, _track_opened, everyone_sees),
        event(PartyAdmitted, _party_admitted, everyone_sees),
        event(MemberEnrolled, _member_enrolled, everyone_sees),
        event(KeyRotated, _key_rotated, everyone_sees),
        event(KeyRevoked, _key_revoked, everyone_sees),
    ),
)
"""Membership and keys (ADR-0011)."""
