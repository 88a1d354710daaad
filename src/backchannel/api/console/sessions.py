"""Console sign-in (ADR-0047): a one-time token signed by a member's key becomes an HttpOnly session.

:meth:`ConsoleSessions.exchange` checks a token from ``backchannel console``
(:mod:`backchannel.protocol.console_token`) the way :mod:`backchannel.api.auth`
checks an RFC 9421 request: the track must exist, the key must be enrolled
for the member it names and still usable, the signature must verify, and
its nonce is spent in the same replay window (per key and track, and across
restarts: :class:`~backchannel.service.replay.ReplayWindow`). On top of
that: it must be made for this service's origin, unexpired, and live at
most :data:`~backchannel.protocol.console_token.MAX_LIFETIME`.

The session is a cookie the service signs itself (HMAC-SHA256 under a key
derived deterministically from the node's Ed25519 key, so it survives a
restart and holds nothing secret of the member's): the key id, the key's
public bytes, issue and expiry. Every console request then resolves the
key's memberships anew (:meth:`ConsoleSessions.memberships`), exactly as
``GET /v1/tracks`` does: a key revoked or expired in a track stops showing it
at once. No private key ever reaches the browser.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backchannel.api.auth import Reader
from backchannel.api.context import ApiContext
from backchannel.api.errors import AuthenticationError
from backchannel.domain import TrackState
from backchannel.errors import BackchannelError, DomainError, EncodingError, NotFoundError
from backchannel.log.signing import VerifyingKey, b64encode
from backchannel.protocol.console_token import MAX_LIFETIME, read_signin_token, signed_bytes

__all__ = ["COOKIE", "SESSION_LIFETIME", "ConsoleSessions", "Session"]

COOKIE = "backchannel_console"
"""The session cookie's name."""
SESSION_LIFETIME = timedelta(hours=12)
"""How long a console session lasts."""
_SKEW = timedelta(seconds=60)
_SECRET_LABEL = b"backchannel-console-session-key/v1"


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in console session.

    Attributes:
        key_id: The member key that signed the sign-in token.
        public: That key's Ed25519 public bytes, base64 (a re-enrolled id with other bytes is not it).
        member: The member it signed in as (in the token's track).
        expires_at: When the session ends.
    """

    key_id: str
    public: str
    member: str
    expires_at: datetime


class ConsoleSessions:
    """Token exchange and session cookies over the API's context (see the module docstring).

    Args:
        ctx: The routes' shared context (track service, replay window, clock).
        public_origin: The origin tokens must be made for.
    """

    def __init__(self, ctx: ApiContext, public_origin: str) -> None:
        """Derive the cookie key from the node's signing key (Ed25519 signatures are deterministic)."""
        self._ctx = ctx
        self.origin = public_origin.rstrip("/")
        self._secret = hashlib.sha256(ctx.service.node.signing.sign(_SECRET_LABEL)).digest()

    @property
    def secure(self) -> bool:
        """Whether the cookie needs HTTPS (the origin is ``https``)."""
        return self.origin.startswith("https://")

    def exchange(self, token: str) -> tuple[str, Session]:
        """Check a sign-in token once; return the session cookie's value and the session.

        Raises:
            EncodingError: not a sign-in token (422 naming the rule).
            AuthenticationError: wrong origin, unknown key, bad signature,
                expired, too long-lived, or already used (401).
            NotFoundError: no such track (404).
            DomainError: the key is revoked or expired in the track (403).
        """
        signin = read_signin_token(token)
        now = self._ctx.clock.now()
        if signin.origin.rstrip("/") != self.origin:
            raise AuthenticationError(
                f"token: made for {signin.origin}, but this service is {self.origin}; "
                "run `backchannel console` with --server set to this service"
            )
        state = self._ctx.state(signin.track)
        owner = state.key_owners.get(signin.key_id)
        record = None if owner is None else state.members[owner].key(signin.key_id)
        if record is None or owner != signin.member:
            raise AuthenticationError(
                f"token: key {signin.key_id} is not a key of {signin.member} in track {signin.track}"
            )
        if not VerifyingKey(record.ed25519).is_valid(signin.signature, signed_bytes(signin.payload)):
            raise AuthenticationError("token: the signature does not verify with the member's key")
        if signin.expires_at - signin.issued_at > MAX_LIFETIME:
            raise AuthenticationError(
                f"token: lives longer than the {int(MAX_LIFETIME.total_seconds())} s a sign-in link may"
            )
        if signin.issued_at > now + _SKEW:
            raise AuthenticationError(f"token: issued in the future ({signin.issued_at.isoformat()})")
        if now > signin.expires_at:
            raise AuthenticationError(
                f"token: expired at {signin.expires_at.isoformat()}; run `backchannel console` for a new link"
            )
        state.signing_key(owner, signin.key_id, now)  # 403 once revoked or expired
        try:
            self._ctx.replay.check_and_add(signin.track, signin.key_id, signin.nonce, signin.issued_at, now)
        except BackchannelError as e:
            if isinstance(e, EncodingError):
                raise
            raise AuthenticationError(
                f"token: this sign-in link was already used or cannot be ruled out as a replay ({e}); "
                "run `backchannel console` for a new link"
            ) from e
        session = Session(signin.key_id, b64encode(record.ed25519), owner, now + SESSION_LIFETIME)
        return self._cookie(session), session

    def _cookie(self, session: Session) -> str:
        payload = json.dumps(
            {
                "k": session.key_id,
                "p": session.public,
                "m": session.member,
                "e": int(session.expires_at.timestamp()),
                "s": secrets.token_urlsafe(8),
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(mac)}"

    def session(self, cookie: str | None) -> Session:
        """The session a cookie carries (AuthenticationError when absent, forged or expired)."""
        if not cookie:
            raise AuthenticationError("not signed in: run `backchannel console` and open the link it prints")
        payload_text, _, mac_text = cookie.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
        except (binascii.Error, ValueError) as e:
            raise AuthenticationError("the console session cookie is malformed; sign in again") from e
        if not hmac.compare_digest(mac, hmac.new(self._secret, payload, hashlib.sha256).digest()):
            raise AuthenticationError(
                "the console session cookie was not issued by this service; sign in again"
            )
        data = json.loads(payload)
        session = Session(data["k"], data["p"], data["m"], datetime.fromtimestamp(int(data["e"]), UTC))
        if self._ctx.clock.now() > session.expires_at:
            raise AuthenticationError(
                "the console session expired; run `backchannel console` to sign in again"
            )
        return session

    def memberships(self, session: Session) -> list[tuple[TrackState, Reader]]:
        """Each served track where the session's key is enrolled with the same bytes and usable, in order."""
        now = self._ctx.clock.now()
        found: list[tuple[TrackState, Reader]] = []
        for info in self._ctx.service.store.list_tracks():
            try:
                state = self._ctx.service.state(info.track)
            except BackchannelError:
                continue  # set aside by the integrity check: shown as damaged, never read
            if state is None:
                continue
            reader = _reader(state, session, now)
            if reader is not None:
                found.append((state, reader))
        return found

    def reader(self, session: Session, track: str) -> tuple[TrackState, Reader]:
        """The session's reader in ``track`` (NotFoundError, as for a track it does not belong to)."""
        state = self._ctx.state(track)
        reader = _reader(state, session, self._ctx.clock.now())
        if reader is None:
            raise NotFoundError(f"no track {track!r} for this session's key")
        return state, reader


def _reader(state: TrackState, session: Session, now: datetime) -> Reader | None:
    member = state.key_owners.get(session.key_id)
    if member is None:
        return None
    try:
        usable = state.signing_key(member, session.key_id, now)
    except DomainError:
        return None  # revoked or expired here
    return Reader(member, session.key_id) if b64encode(usable.ed25519) == session.public else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
