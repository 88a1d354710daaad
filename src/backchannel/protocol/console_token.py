"""The console's one-time sign-in token (ADR-0047): signed by a member's key, never carrying it.

``backchannel console`` makes a token with :func:`make_signin_token`; the
service's ``/console/signin?token=...`` checks it with :func:`read_signin_token`
(the format and the signature) and then against the track's keys, its replay
window and the clock (:mod:`backchannel.api.console.sessions`).

A token is ``<payload>.<signature>``, both base64url without padding:

- the payload is the canonical JSON (RFC 8785) of ``{"typ":
  "backchannel-console-signin/v1", "origin", "track", "member", "key_id",
  "iat", "exp", "nonce"}`` (``iat`` and ``exp`` in whole Unix seconds);
- the signature is the member key's Ed25519 signature of
  ``b"backchannel-console-signin/v1"``, a newline, then the payload (the prefix keeps it from
  ever being taken for a signed command or an RFC 9421 signature base).

This module holds no secret and checks no key enrolment.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backchannel.errors import EncodingError
from backchannel.log.canonical import canonicalize
from backchannel.log.signing import SigningKey

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_LIFETIME",
    "TOKEN_TYPE",
    "SigninToken",
    "make_signin_token",
    "read_signin_token",
    "signed_bytes",
]

TOKEN_TYPE = "backchannel-console-signin/v1"  # noqa: S105 - a type name, not a secret
"""The token's ``typ`` and the signature's domain-separation prefix."""
DEFAULT_LIFETIME = timedelta(seconds=60)
"""How long a sign-in link is valid by default."""
MAX_LIFETIME = timedelta(seconds=120)
"""The longest lifetime the service accepts (within its replay window, so one use is enforced)."""
_MAX_TOKEN = 4096
_FIELDS = frozenset({"typ", "origin", "track", "member", "key_id", "iat", "exp", "nonce"})


@dataclass(frozen=True, slots=True)
class SigninToken:
    """A decoded sign-in token (its signature not yet checked against any key).

    Attributes:
        origin: The service origin it was made for.
        track: The track whose key signed it.
        member: The member it signs in.
        key_id: The member's key that signed it.
        issued_at: ``iat``.
        expires_at: ``exp``.
        nonce: Its one-time nonce.
        payload: The payload bytes as sent.
        signature: The Ed25519 signature.
    """

    origin: str
    track: str
    member: str
    key_id: str
    issued_at: datetime
    expires_at: datetime
    nonce: str
    payload: bytes
    signature: bytes


def signed_bytes(payload: bytes) -> bytes:
    """What the member's key signs: the type line, then the payload."""
    return TOKEN_TYPE.encode() + b"\n" + payload


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise EncodingError(f"token: the {what} is not base64url") from e


def make_signin_token(  # noqa: PLR0913 - what the token says, keyword-only
    *,
    origin: str,
    track: str,
    member: str,
    key: SigningKey,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """A sign-in token for ``member`` (holding ``key`` in ``track``) at ``origin``, valid for ``lifetime``."""
    issued = int(now.timestamp())
    payload = canonicalize(
        {
            "typ": TOKEN_TYPE,
            "origin": origin.rstrip("/"),
            "track": track,
            "member": member,
            "key_id": key.key_id,
            "iat": issued,
            "exp": issued + max(1, int(lifetime.total_seconds())),
            "nonce": secrets.token_urlsafe(16),
        }
    )
    return f"{_b64(payload)}.{_b64(key.sign(signed_bytes(payload)))}"


def read_signin_token(token: str) -> SigninToken:
    """Decode a token's payload and signature (EncodingError naming the rule it breaks)."""
    if len(token) > _MAX_TOKEN:
        raise EncodingError(f"token: longer than {_MAX_TOKEN} characters")
    payload_text, dot, signature_text = token.strip().partition(".")
    if not dot or not payload_text or not signature_text:
        raise EncodingError("token: not a console sign-in token (expected <payload>.<signature>)")
    payload = _unb64(payload_text, "payload")
    signature = _unb64(signature_text, "signature")
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EncodingError("token: the payload is not JSON") from e
    if not isinstance(data, dict) or set(data) != _FIELDS:
        raise EncodingError(f"token: the payload must have exactly the fields {sorted(_FIELDS)}")
    if data["typ"] != TOKEN_TYPE:
        raise EncodingError(f"token: typ must be {TOKEN_TYPE!r}")
    texts = ("origin", "track", "member", "key_id", "nonce")
    if any(not isinstance(data[f], str) or not data[f] for f in texts):
        raise EncodingError(f"token: {', '.join(texts)} must be non-empty strings")
    if any(not isinstance(data[f], int) or isinstance(data[f], bool) for f in ("iat", "exp")):
        raise EncodingError("token: iat and exp must be integers (Unix seconds)")
    if len(signature) != 64:
        raise EncodingError("token: the signature must be 64 bytes (Ed25519)")
    return SigninToken(
        origin=data["origin"],
        track=data["track"],
        member=data["member"],
        key_id=data["key_id"],
        issued_at=datetime.fromtimestamp(data["iat"], UTC),
        expires_at=datetime.fromtimestamp(data["exp"], UTC),
        nonce=data["nonce"],
        payload=payload,
        signature=signature,
    )
