"""Authentication of every ``/v1/tracks`` request: RFC 9421 signatures against the track's keys.

Every request carries an RFC 9421 signature (:mod:`backchannel.protocol.httpsig`),
verified against the configured ``public_origin`` plus the raw path and query
(never the ``Host`` header), with ``created`` within ±300 s and a nonce accepted
once, within a budget per key and per track
(:class:`~backchannel.service.replay.ReplayWindow`: 429 past it). The ``keyid`` names a
key of the track: for a command it must be the command's own ``key_id`` (the
genesis ``open_track`` is checked against the principal key it enrols); for a
read it names the reader. The transport signature is checked first (401 on any
failure), then whether the key may still sign (403 once revoked or expired).

The requested track must exist (404) before anything else is checked, so a
track's name is not secret. This module does not decide what a reader may see
(the routes and the domain's visibility rules do).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request

from backchannel.api.errors import AuthenticationError
from backchannel.clock import Clock
from backchannel.domain import TrackState
from backchannel.errors import BackchannelError, DomainError, NotFoundError, VerificationError
from backchannel.log.signing import VerifyingKey
from backchannel.protocol.httpsig import verify_request
from backchannel.protocol.nonces import NonceStore
from backchannel.protocol.wire import SignedCommand, new_key_from_dict
from backchannel.service.replay import ReplayWindow
from backchannel.service.tracks import TrackService

__all__ = ["Authenticator", "Reader"]

_ANY_TRACK = "*"  # not a valid track id; the listing's nonces are spent in the key's home track


@dataclass(frozen=True, slots=True)
class Reader:
    """An authenticated requester."""

    member: str
    """The member the key belongs to."""
    key_id: str
    """The key that signed the request."""


class Authenticator:
    """Checks the RFC 9421 signature of a request against the keys of its track.

    Args:
        service: The track service (the tracks' states and keys).
        clock: The clock for ``created`` skew and key usability.
        public_origin: The scheme and authority clients sign for.
        replay: The replay window: per-key and per-track nonce budgets (issue #8).
    """

    def __init__(self, service: TrackService, clock: Clock, public_origin: str, replay: ReplayWindow) -> None:
        """Create the authenticator."""
        self.service = service
        self.clock = clock
        self.origin = public_origin.rstrip("/")
        self.replay = replay
        self.touch: Callable[[str], None] = _nothing
        """Called with the track after each authenticated read (the schedule's hook)."""

    def target_uri(self, request: Request) -> str:
        """The URI the client signed: the public origin plus the raw path and query."""
        raw_path = request.scope.get("raw_path") or request.url.path.encode("ascii")
        query = request.scope.get("query_string", b"")
        uri = self.origin + raw_path.decode("latin-1")
        return uri + "?" + query.decode("latin-1") if query else uri

    def verify(  # noqa: PLR0913 - the request, where its nonce is spent, and how keys resolve
        self,
        request: Request,
        track: str,
        body: bytes,
        resolve: Callable[[str], VerifyingKey],
        now: datetime,
        *,
        nonces: NonceStore | None = None,
    ) -> str:
        """Verify the RFC 9421 signature; return the key id (AuthenticationError on failure).

        The nonce is spent in ``track``'s budget, or in ``nonces`` when given.
        """
        try:
            verified = verify_request(
                request.method,
                self.target_uri(request),
                request.headers,
                body,
                resolve_key=resolve,
                now=now,
                nonces=nonces or self.replay.for_track(track),
            )
        except VerificationError as e:
            raise AuthenticationError(str(e)) from e
        return verified.key_id

    def reader(self, request: Request, track: str, body: bytes) -> tuple[TrackState, Reader]:
        """Authenticate a read of ``track``: the state and the reader (404, 401, 403)."""
        state = self._state(track)
        now = self.clock.now()

        def resolve(key_id: str) -> VerifyingKey:
            owner = state.key_owners.get(key_id)
            record = None if owner is None else state.members[owner].key(key_id)
            if record is None:
                raise LookupError(f"no key {key_id} is enrolled in track {track}")
            return VerifyingKey(record.ed25519)

        key_id = self.verify(request, track, body, resolve, now)
        member = state.key_owners[key_id]
        state.signing_key(member, key_id, now)  # 403 once revoked or expired
        self.touch(track)  # a lease or heartbeat may move the track's next due time
        return state, Reader(member, key_id)

    def memberships(self, request: Request) -> list[tuple[TrackState, Reader]]:
        """Authenticate a request made outside any track (``GET /v1/tracks``): where the key may read.

        The key is looked up in every served track; the signature is checked
        against it (401 when no track knows the key, or on any failure), the
        nonce spent in the budget of the first track that enrols the key (its
        home: listing costs that track what a read of it would). The answer
        lists each track where the key is enrolled with those same bytes and is
        still usable (revoked or expired there: left out), in track order.
        """
        states = self._served_states()
        now = self.clock.now()
        found: dict[str, tuple[str, VerifyingKey]] = {}

        def resolve(key_id: str) -> VerifyingKey:
            for state in states:
                owner = state.key_owners.get(key_id)
                record = None if owner is None else state.members[owner].key(key_id)
                if record is not None:
                    found[key_id] = (state.track, VerifyingKey(record.ed25519))
                    return found[key_id][1]
            raise LookupError(f"no track here enrols key {key_id}")

        home = _HomeNonces(self.replay, lambda key_id: found[key_id][0])
        key_id = self.verify(request, _ANY_TRACK, b"", resolve, now, nonces=home)
        readers: list[tuple[TrackState, Reader]] = []
        for state in states:
            member = state.key_owners.get(key_id)
            if member is None:
                continue
            try:
                usable = state.signing_key(member, key_id, now)
            except DomainError:
                continue  # revoked or expired in this track
            if usable.ed25519 == found[key_id][1].public_bytes:
                readers.append((state, Reader(member, key_id)))
        return readers

    def _served_states(self) -> list[TrackState]:
        states: list[TrackState] = []
        for info in self.service.store.list_tracks():
            try:
                state = self.service.state(info.track)
            except BackchannelError:
                continue  # set aside by the integrity check: not served, not listed
            if state is not None:
                states.append(state)
        return states

    def command(self, request: Request, signed: SignedCommand, body: bytes) -> None:
        """Authenticate a command: the RFC 9421 signer must hold the command's own key (404, 401, 403)."""
        state = self.service.state(signed.track)
        now = self.clock.now()
        if state is None:
            if signed.command != "open_track":
                raise NotFoundError(f"no track {signed.track!r}")
            principal = new_key_from_dict(_body_field(signed, "principal_key"), "body.principal_key")
            genesis = VerifyingKey(principal.ed25519)

            def resolve(key_id: str) -> VerifyingKey:
                if key_id != signed.key_id or key_id != principal.key_id:
                    raise LookupError(f"keyid {key_id} is not the principal key the command enrols")
                return genesis

            self.verify(request, signed.track, body, resolve, now)
            return

        def resolve_enrolled(key_id: str) -> VerifyingKey:
            if key_id != signed.key_id:
                raise LookupError(f"keyid {key_id} is not the command's key {signed.key_id}")
            record = state.member(signed.member).key(key_id) if signed.member in state.members else None
            if record is None or state.key_owners.get(key_id) != signed.member:
                # one message whether the member is unknown or holds another key: no membership oracle
                raise LookupError(f"key {key_id} is not a key of {signed.member} in this track")
            return VerifyingKey(record.ed25519)

        self.verify(request, signed.track, body, resolve_enrolled, now)
        state.signing_key(signed.member, signed.key_id, now)  # 403 once revoked or expired

    def _state(self, track: str) -> TrackState:
        state = self.service.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        return state


def _body_field(signed: SignedCommand, name: str) -> Any:  # noqa: ANN401 - raw JSON, checked by the decoder
    body = signed.payload["body"]
    assert isinstance(body, dict)  # SignedCommand checked it is an object
    return body.get(name)


class _HomeNonces:
    """A :class:`NonceStore` spending each nonce in the budget of the track ``home(key_id)`` names."""

    def __init__(self, replay: ReplayWindow, home: Callable[[str], str]) -> None:
        self._replay = replay
        self._home = home

    @property
    def window(self) -> timedelta:
        return self._replay.window

    def check_and_add(self, key_id: str, nonce: str, created: datetime, now: datetime) -> None:
        self._replay.for_track(self._home(key_id)).check_and_add(key_id, nonce, created, now)


def _nothing(_track: str) -> None:
    """The default ``touch``: no schedule to tell."""
