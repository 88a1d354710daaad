"""Event envelopes: the event, its author's signature, and its salted log leaf.

An :class:`Event` is the envelope of DESIGN.md, exactly seven fields::

    {"track", "seq", "type", "author", "created_at", "body", "prev"}

serialised as RFC 8785 canonical JSON and signed by its author
(:class:`SignedEvent`). ``prev`` is the hex leaf hash of event ``seq - 1``
(``null`` for ``seq == 0``), chaining every event to the log before it.

A :class:`LogEntry` is a signed event with a 32-byte salt. Its Merkle leaf data
is the salted commitment ``SHA-256(salt || canonical(signed event))``, so a
reader who holds the event and its salt can prove its inclusion, while a reader
who sees only leaf hashes (a witness) learns nothing of the content.

Decoding is strict: unknown fields, missing fields, wrong types and malformed
values are refused with :class:`~backchannel.errors.EncodingError` naming the
field and the rule. Encoding is byte-stable: ``from_bytes(to_bytes(x)) == x``
and ``to_bytes`` of a decoded value reproduces its bytes.

This module is pure: no I/O, no clock, no randomness (the caller supplies
``created_at`` and the salt). It does not decide which key may sign which
event; see :mod:`backchannel.log.verify`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from backchannel.errors import EncodingError, VerificationError
from backchannel.log import merkle
from backchannel.log._checks import is_bytes_of, is_natural, is_text
from backchannel.log.canonical import MAX_SAFE_INTEGER, JSONValue, canonicalize, loads_strict
from backchannel.log.signing import SigningKey, VerifyingKey, b64decode, b64encode

__all__ = [
    "SALT_SIZE",
    "Event",
    "LogEntry",
    "SignedEvent",
    "format_timestamp",
    "parse_rfc3339",
    "parse_timestamp",
]

SALT_SIZE = 32
"""Bytes of salt per log entry."""

_TRACK = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_TYPE = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*){0,7}")
_MEMBER = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}(/[a-z0-9][a-z0-9._-]{0,63})?")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HEX32 = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"ed25519:[0-9a-f]{32}")
_EVENT_FIELDS = frozenset({"track", "seq", "type", "author", "created_at", "body", "prev"})
_SIGNED_FIELDS = frozenset({"event", "signature"})
_SIGNATURE_FIELDS = frozenset({"keyid", "sig"})
_ENTRY_FIELDS = frozenset({"signed", "salt"})
_MAX_TYPE_LENGTH = 64


def format_timestamp(moment: datetime) -> str:
    """Format an aware datetime as the canonical ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC).

    Raises:
        EncodingError: the datetime is naive (has no time zone).
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EncodingError("created_at: datetime must be timezone-aware")
    utc = moment.astimezone(UTC)
    if utc.year < 1000:  # isoformat pads the year to 4 digits, strftime may not
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"  # strftime's text, 5x faster


def parse_timestamp(text: str, *, field: str = "created_at") -> datetime:
    """Parse a canonical UTC timestamp (exactly 6 fractional digits, ``Z``).

    Raises:
        EncodingError: any other form, or an impossible date.
    """
    if not is_text(text) or not _TIMESTAMP.fullmatch(text):
        raise EncodingError(f"{field}: expected a UTC timestamp like 2026-01-31T12:00:00.000000Z")
    try:
        return datetime.fromisoformat(text)  # the pattern above already fixed the exact form
    except ValueError as e:
        raise EncodingError(f"{field}: {e}") from e


_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})"
)


def parse_rfc3339(text: str, *, field: str) -> datetime:
    """Parse an RFC 3339 instant with 0-9 fractional digits and any offset; return it in UTC.

    The lenient reader of instants a client sends (issue #8): ``2026-12-16T17:53:59Z``,
    ``...59.5Z``, ``...59.123456789+02:00``. Digits past the microsecond are dropped
    (truncated, never rounded up). What was signed is kept as signed: only the
    decoded value is normalised.

    Raises:
        EncodingError: not an RFC 3339 date-time with a time zone, or an impossible one
            (a leap second included).
    """
    match = _RFC3339.fullmatch(text) if is_text(text) else None
    if match is None:
        raise EncodingError(
            f"{field}: expected a UTC timestamp (RFC 3339) like 2026-01-31T12:00:00Z "
            "(0-9 fractional digits; Z or an offset)"
        )
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]
    offset = "+00:00" if match["offset"] in {"Z", "z"} else match["offset"]
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}.{fraction}{offset}")
    except ValueError as e:
        raise EncodingError(f"{field}: {e}") from e
    return moment.astimezone(UTC)


def _expect_object(value: JSONValue, fields: frozenset[str], where: str) -> Mapping[str, JSONValue]:
    if not isinstance(value, Mapping):
        raise EncodingError(f"{where}: expected a JSON object, got {type(value).__name__}")
    keys = set(value)
    if unknown := keys - fields:
        raise EncodingError(f"{where}: unknown field(s) {sorted(unknown)} (signed envelopes are closed)")
    if missing := fields - keys:
        raise EncodingError(f"{where}: missing field(s) {sorted(missing)}")
    return value


def _expect_str(value: JSONValue, field: str, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str):
        raise EncodingError(f"{field}: expected a string, got {type(value).__name__}")
    if not pattern.fullmatch(value):
        raise EncodingError(f"{field}: {value[:80]!r} does not match {rule}")
    return value


@dataclass(frozen=True, slots=True, eq=True)
class Event:
    """One state change of a track, before signing.

    Attributes:
        track: The track id (``[a-z0-9][a-z0-9._-]{0,63}``).
        seq: The 0-based log index this event occupies.
        type: Dotted event type, past tense (``track.opened``, ``proposal.submitted``).
        author: The member id that signs it (``party`` or ``party/member``).
        created_at: Canonical UTC timestamp text (see :func:`format_timestamp`).
        body: The event's JSON object payload.
        prev: The leaf hash of event ``seq - 1``; ``None`` exactly when ``seq == 0``.
        body_bytes: The body's canonical bytes when the writer already has them
            (issue #13: a signed command is canonicalised once and spliced in);
            they must equal ``canonicalize(body)``. ``None``: computed from ``body``.
    """

    track: str
    seq: int
    type: str
    author: str
    created_at: str
    body: Mapping[str, JSONValue]
    prev: bytes | None
    _bytes: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)
    body_bytes: bytes | None = field(default=None, kw_only=True, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        """Validate every field (raises :class:`EncodingError` naming it)."""
        _expect_str(self.track, "track", _TRACK, "[a-z0-9][a-z0-9._-]{0,63}")
        if not is_natural(self.seq):
            raise EncodingError(f"seq: expected an integer >= 0, got {self.seq!r}")
        _expect_str(self.type, "type", _TYPE, "a dotted lowercase name like 'proposal.submitted'")
        if len(self.type) > _MAX_TYPE_LENGTH:
            raise EncodingError(f"type: longer than {_MAX_TYPE_LENGTH} characters")
        _expect_str(self.author, "author", _MEMBER, "'party' or 'party/member' (lowercase)")
        parse_timestamp(self.created_at)
        if not isinstance(self.body, Mapping):
            raise EncodingError(f"body: expected a JSON object, got {type(self.body).__name__}")
        if self.prev is None:
            if self.seq != 0:
                raise EncodingError(f"prev: required for seq {self.seq} (only seq 0 has no predecessor)")
        elif not is_bytes_of(self.prev, 32):
            raise EncodingError("prev: expected the 32-byte leaf hash of the previous event")
        elif self.seq == 0:
            raise EncodingError("prev: must be null for seq 0")

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON object form (``prev`` as lowercase hex or ``None``)."""
        return {
            "track": self.track,
            "seq": self.seq,
            "type": self.type,
            "author": self.author,
            "created_at": self.created_at,
            "body": self.body,
            "prev": None if self.prev is None else self.prev.hex(),
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> Event:
        """Decode the JSON object form strictly.

        Raises:
            EncodingError: unknown/missing fields, wrong types, malformed values.
        """
        obj = _expect_object(value, _EVENT_FIELDS, "event")
        prev_text = obj["prev"]
        prev: bytes | None = None
        if prev_text is not None:
            prev = bytes.fromhex(_expect_str(prev_text, "prev", _HEX32, "64 lowercase hex digits"))
        # __post_init__ validates every other field's type and form
        return cls(
            track=obj["track"],  # type: ignore[arg-type]
            seq=obj["seq"],  # type: ignore[arg-type]
            type=obj["type"],  # type: ignore[arg-type]
            author=obj["author"],  # type: ignore[arg-type]
            created_at=obj["created_at"],  # type: ignore[arg-type]
            body=obj["body"],  # type: ignore[arg-type]
            prev=prev,
        )

    def to_bytes(self) -> bytes:
        """The canonical bytes: exactly what the author signs (computed once).

        Raises:
            EncodingError: the body holds a value canonical JSON cannot carry exactly.
        """
        if self._bytes is None:
            if self.body_bytes is None:
                data = canonicalize(self.to_dict())
            else:  # the envelope's fields around the body's bytes, which are not walked again
                data = self._envelope(self.body_bytes)
                object.__setattr__(self, "body_bytes", None)  # now inside _bytes: not kept twice
            object.__setattr__(self, "_bytes", data)
        assert self._bytes is not None
        return self._bytes

    def _envelope(self, body_bytes: bytes) -> bytes:
        """``canonicalize(self.to_dict())`` with ``body_bytes`` as the body, written field by field.

        Every envelope field was checked in ``__post_init__`` against a pattern
        that admits no character JSON escapes, so each string is its own JSON
        text; keys are written in RFC 8785 order (a test pins the equality).
        """
        fields = (self.track, self.type, self.author, self.created_at)
        plain = type(self.seq) is int and self.seq <= MAX_SAFE_INTEGER and all(type(f) is str for f in fields)
        if not plain:
            # str subclasses and unsafe integers take the reference encoder (which refuses the latter)
            envelope = canonicalize({**self.to_dict(), "body": {}})
            # "author" sorts before "body" and no envelope value holds a quote: the first match is the key
            return envelope.replace(b'"body":{}', b'"body":' + body_bytes, 1)
        prev = b"null" if self.prev is None else b'"' + self.prev.hex().encode("ascii") + b'"'
        return b"".join(
            (
                b'{"author":"',
                self.author.encode(),
                b'","body":',
                body_bytes,
                b',"created_at":"',
                self.created_at.encode(),
                b'","prev":',
                prev,
                b',"seq":',
                str(self.seq).encode("ascii"),
                b',"track":"',
                self.track.encode(),
                b'","type":"',
                self.type.encode(),
                b'"}',
            )
        )


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """An event with its author's Ed25519 signature over ``event.to_bytes()``."""

    event: Event
    key_id: str
    signature: bytes

    def __post_init__(self) -> None:
        """Validate the key id and signature shapes."""
        _expect_str(self.key_id, "signature.keyid", _KEY_ID, "'ed25519:' and 32 hex digits")
        if not is_bytes_of(self.signature, 64):
            raise EncodingError("signature.sig: expected a 64-byte Ed25519 signature")

    @classmethod
    def create(cls, event: Event, key: SigningKey) -> SignedEvent:
        """Sign ``event`` with ``key``."""
        return cls(event=event, key_id=key.key_id, signature=key.sign(event.to_bytes()))

    def verify(self, key: VerifyingKey) -> None:
        """Check that ``key`` is the named key and its signature covers the event.

        Raises:
            VerificationError: a different key id, or the signature does not verify.
        """
        if key.key_id != self.key_id:
            raise VerificationError(
                f"event {self.event.seq} names key {self.key_id}, not {key.key_id}", index=self.event.seq
            )
        try:
            key.verify(self.signature, self.event.to_bytes())
        except VerificationError as e:
            raise VerificationError(
                f"event {self.event.seq}: author signature does not verify ({self.key_id})",
                index=self.event.seq,
            ) from e

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON object form."""
        return {
            "event": self.event.to_dict(),
            "signature": {"keyid": self.key_id, "sig": b64encode(self.signature)},
        }

    @classmethod
    def from_dict(cls, value: JSONValue) -> SignedEvent:
        """Decode the JSON object form strictly.

        Raises:
            EncodingError: unknown/missing fields, wrong types, malformed values.
        """
        obj = _expect_object(value, _SIGNED_FIELDS, "signed event")
        sig = _expect_object(obj["signature"], _SIGNATURE_FIELDS, "signature")
        keyid = sig["keyid"]
        if not isinstance(keyid, str):
            raise EncodingError(f"signature.keyid: expected a string, got {type(keyid).__name__}")
        raw_sig = sig["sig"]
        if not isinstance(raw_sig, str):
            raise EncodingError(f"signature.sig: expected base64 text, got {type(raw_sig).__name__}")
        return cls(
            event=Event.from_dict(obj["event"]),
            key_id=keyid,
            signature=b64decode(raw_sig, field="signature.sig", length=64),
        )

    def to_bytes(self) -> bytes:
        """The canonical bytes of the signed envelope (what the leaf commits to).

        Built around the event's cached canonical bytes. This equals
        ``canonicalize(self.to_dict())`` (a test pins it): ``"event"`` sorts
        before ``"signature"``, ``"keyid"`` before ``"sig"``, and neither the key
        id nor base64 text needs escaping.
        """
        return b"".join(
            (
                b'{"event":',
                self.event.to_bytes(),
                b',"signature":{"keyid":"',
                self.key_id.encode("ascii"),
                b'","sig":"',
                b64encode(self.signature).encode("ascii"),
                b'"}}',
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedEvent:
        """Decode from JSON bytes (strict parsing, strict fields).

        Raises:
            EncodingError: malformed JSON or a malformed envelope.
        """
        return cls.from_dict(loads_strict(data))


def commitment(salt: bytes, signed_bytes: bytes) -> bytes:
    """Return the salted commitment ``SHA-256(salt || canonical signed event)``: the leaf data."""
    return hashlib.sha256(salt + signed_bytes).digest()


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A signed event at its place in the log, with the salt of its leaf."""

    signed: SignedEvent
    salt: bytes
    _leaf: bytes | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        """Validate the salt."""
        if not is_bytes_of(self.salt, SALT_SIZE):
            raise EncodingError(f"salt: expected {SALT_SIZE} bytes")

    @property
    def seq(self) -> int:
        """The log index."""
        return self.signed.event.seq

    @property
    def commitment(self) -> bytes:
        """The leaf data: ``SHA-256(salt || canonical signed event)``."""
        return commitment(self.salt, self.signed.to_bytes())

    @property
    def leaf_hash(self) -> bytes:
        """The RFC 6962 leaf hash of the commitment (computed once)."""
        if self._leaf is None:
            object.__setattr__(self, "_leaf", merkle.leaf_hash(self.commitment))
        assert self._leaf is not None
        return self._leaf

    def to_dict(self) -> dict[str, JSONValue]:
        """The JSON object form (used by exports)."""
        return {"signed": self.signed.to_dict(), "salt": b64encode(self.salt)}

    @classmethod
    def from_dict(cls, value: JSONValue) -> LogEntry:
        """Decode the JSON object form strictly.

        Raises:
            EncodingError: unknown/missing fields, wrong types, malformed values.
        """
        obj = _expect_object(value, _ENTRY_FIELDS, "entry")
        salt = obj["salt"]
        if not isinstance(salt, str):
            raise EncodingError(f"salt: expected base64 text, got {type(salt).__name__}")
        return cls(
            signed=SignedEvent.from_dict(obj["signed"]), salt=b64decode(salt, field="salt", length=SALT_SIZE)
        )
