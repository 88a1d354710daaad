"""Verify-then-fold a whole track (split out of :mod:`backchannel.service.tracks`).

:func:`replay` runs on a store's track, :func:`replay_entries` on entries from
anywhere (an export file, offline). Each re-verifies every embedded command
signature with the key valid at that point and re-decides every command at its
recorded time, requiring exactly the logged events: a log edited by anyone but
the service fails here, and so does one the service wrote against the rules.
:func:`verify_signature` is the signature check the track service shares.

This module does not write anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from backchannel.domain import Command, OpenTrack, TrackState, decide, event_from_dict, evolve
from backchannel.errors import EncodingError, VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.log.records import LogEntry
from backchannel.log.signing import VerifyingKey
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.wire import SignedCommand, to_domain
from backchannel.service.verification import AheadOfCommit
from backchannel.store.base import EventStore

__all__ = ["log_body", "log_entries", "replay", "replay_entries", "verify_signature"]


def verify_signature(
    state: TrackState | None,
    command: Command,
    signed: SignedCommand,
    now: datetime,
    ahead: AheadOfCommit | None = None,
) -> None:
    """Verify under the key valid ``now``; skip the Ed25519 check ``ahead`` already made under it."""
    if state is None:
        if not isinstance(command, OpenTrack):
            return  # decide() refuses it: the track is not open
        public = command.principal_key.ed25519
    else:
        public = state.signing_key(command.member, command.key_id, now).ed25519
    if ahead is not None and ahead.verified_under(signed, public):
        return  # the same signature verified under this very key, on a worker thread
    signed.verify(VerifyingKey(public))


def log_entries(store: EventStore, track: str, start: int, stop: int) -> Iterator[LogEntry]:
    """The decoded entries ``[start, stop)`` of ``track``."""
    for stored in store.read(track, start, stop):
        yield stored.decode()


def log_body(entry: LogEntry) -> Mapping[str, JSONValue]:
    """A track event's body, ``{"command", "event"}`` (EncodingError for anything else)."""
    body = entry.signed.event.body
    if set(body) != {"command", "event"}:
        raise EncodingError(f"entry {entry.seq}: a track event body holds exactly 'command' and 'event'")
    return body


def replay(store: EventStore, track: str) -> TrackState:
    """Verify-then-fold a track: every command re-verified and re-decided.

    The log itself must already verify (``verify_store``). This checks the
    layer above: each embedded command's signature under the key valid at
    its decision time, and that deciding it again yields exactly the events
    logged for it.

    Raises:
        VerificationError: the first entry whose command or events do not check,
            with its index.
    """
    return replay_entries(track, log_entries(store, track, 0, store.size(track)))


def replay_entries(track: str, entries: Iterable[LogEntry]) -> TrackState:
    """:func:`replay` of a track's entries, in log order, from anywhere (an export file: offline).

    Raises:
        VerificationError: as :func:`replay`.
    """
    state: TrackState | None = None
    group: list[tuple[LogEntry, Mapping[str, JSONValue]]] = []
    for entry in entries:
        if entry.signed.event.type == KEY_REGISTERED:
            if group or state is not None:
                raise VerificationError(
                    f"entry {entry.seq}: a key registration after track.opened "
                    "(the service registers its key only at genesis)",
                    index=entry.seq,
                )
            continue
        body = log_body(entry)
        if group and body["command"] != group[0][1]["command"]:
            state = _replay_group(state, group)
            group = []
        group.append((entry, body))
    if group:
        state = _replay_group(state, group)
    if state is None:
        raise VerificationError(f"track {track!r} holds no track events")
    return state


def _replay_group(
    state: TrackState | None, group: list[tuple[LogEntry, Mapping[str, JSONValue]]]
) -> TrackState:
    first_entry, body = group[0]
    index = first_entry.seq
    try:
        signed = SignedCommand.from_dict(body["command"])
        command = to_domain(signed)
        logged = [event_from_dict(b["event"]) for _, b in group]
        at = logged[0].at
        verify_signature(state, command, signed, at)
        decided = decide(state, command, at)
    except (EncodingError, VerificationError) as e:
        raise VerificationError(f"entry {index}: {e}", index=index) from e
    except Exception as e:
        raise VerificationError(f"entry {index}: the command is refused on replay: {e}", index=index) from e
    decided_dicts = [e.to_dict() for e in decided]
    for position, (entry, _) in enumerate(group):
        if position >= len(decided_dicts) or decided_dicts[position] != logged[position].to_dict():
            raise VerificationError(
                f"entry {entry.seq}: the logged event is not what its command decides", index=entry.seq
            )
    if len(decided_dicts) > len(group):
        missing = group[-1][0].seq + 1
        raise VerificationError(f"entry {missing}: an event its command decides is missing", index=missing)
    for event in logged:
        state = evolve(state, event, log_offset=index if state is None else None)
    assert state is not None
    return state
