"""Member key material: what a command grants (:class:`NewKey`) and what the track holds (:class:`KeyRecord`).

A member holds one or more key pairs: an Ed25519 signing key and an X25519
agreement key (to which annexes are sealed). Only public halves ever reach the
domain. A key id is derived from the Ed25519 public key alone
(:func:`ed25519_key_id`, the same derivation as :func:`backchannel.log.signing.key_id`),
so nobody can choose one, and a :class:`NewKey` whose id does not match its
key is refused.

A :class:`KeyRecord` is usable from its enrolment until it is revoked (or
rotated out) or expires, whichever comes first: at the instant ``revoked_at``
or ``expires_at`` it is already refused.

This module does not verify signatures (the service does, with the key the
domain names) and reads no clock: every check takes ``now``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from backchannel.domain.codec import Checked, time_text
from backchannel.domain.errors import KeyExpiredError, KeyRevokedError, SchemaViolationError, Violation
from backchannel.domain.ids import check_key_id

__all__ = ["KeyRecord", "NewKey", "ed25519_key_id", "is_aware", "time_text"]

_KEY_ID_DOMAIN = b"backchannel/key-id/ed25519\n"


def ed25519_key_id(public: bytes) -> str:
    """The key id of an Ed25519 public key: ``ed25519:`` + 32 hex of SHA-256(domain tag || key)."""
    return f"ed25519:{hashlib.sha256(_KEY_ID_DOMAIN + public).hexdigest()[:32]}"


def is_aware(moment: object) -> bool:
    """True for a timezone-aware :class:`~datetime.datetime` (the only kind the domain accepts)."""
    return isinstance(moment, datetime) and moment.utcoffset() is not None


@dataclass(frozen=True, slots=True)
class NewKey:
    """Public keys a command enrols for a member.

    Attributes:
        key_id: ``ed25519:<32 hex>``; must be derived from ``ed25519``.
        ed25519: The raw 32-byte Ed25519 public key (signs commands).
        x25519: The raw 32-byte X25519 public key (annexes are sealed to it).
        expires_at: When the key stops being usable, or ``None`` for never.

    Raises:
        SchemaViolationError: on construction, every malformed field.
    """

    key_id: Annotated[str, Checked(check_key_id)]
    ed25519: bytes
    x25519: bytes
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        """Validate the fields (see the class docstring)."""
        violations = self.violations("key")
        if violations:
            raise SchemaViolationError(violations)

    def violations(self, where: str) -> list[Violation]:
        """Every malformed field, named under ``where`` (empty when valid)."""
        out = check_key_id(self.key_id, f"{where}.key_id")
        publics: tuple[tuple[str, object], ...] = (("ed25519", self.ed25519), ("x25519", self.x25519))
        for name, value in publics:
            if not isinstance(value, bytes) or len(value) != 32:
                out.append(Violation(f"{where}.{name}", "type", f"{where}.{name}: expected 32 bytes"))
        if not out and ed25519_key_id(self.ed25519) != self.key_id:
            out.append(
                Violation(
                    f"{where}.key_id",
                    "derived",
                    f"{where}.key_id: {self.key_id} is not the id of the ed25519 key "
                    f"({ed25519_key_id(self.ed25519)})",
                )
            )
        if self.expires_at is not None and not is_aware(self.expires_at):
            out.append(
                Violation(f"{where}.expires_at", "type", f"{where}.expires_at: expected an aware time")
            )
        return out

    def enrol(self, at: datetime, by: str) -> KeyRecord:
        """The record of this key once enrolled at ``at`` by member ``by``."""
        return KeyRecord(self.key_id, self.ed25519, self.x25519, at, by, self.expires_at, None)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A key as the track holds it.

    Attributes:
        key_id: ``ed25519:<32 hex>``.
        ed25519: Raw Ed25519 public key (32 bytes).
        x25519: Raw X25519 public key (32 bytes).
        enrolled_at: When it was enrolled.
        enrolled_by: The member whose command enrolled it.
        expires_at: When it expires, or ``None``.
        revoked_at: When it was revoked or rotated out, or ``None``.
    """

    key_id: str
    ed25519: bytes
    x25519: bytes
    enrolled_at: datetime
    enrolled_by: str
    expires_at: datetime | None
    revoked_at: datetime | None

    def usable_at(self, now: datetime) -> bool:
        """True while neither revoked nor expired at ``now``."""
        return (self.revoked_at is None or now < self.revoked_at) and (
            self.expires_at is None or now < self.expires_at
        )

    def verify_usable(self, now: datetime) -> None:
        """Raise unless the key may sign at ``now``.

        Raises:
            KeyRevokedError: ``revoked_at <= now``; names the key and the instant.
            KeyExpiredError: ``expires_at <= now``; names the key and the instant.
        """
        if self.revoked_at is not None and self.revoked_at <= now:
            raise KeyRevokedError(
                f"key {self.key_id} was revoked at {time_text(self.revoked_at)}",
                key_id=self.key_id,
                when=self.revoked_at,
            )
        if self.expires_at is not None and self.expires_at <= now:
            raise KeyExpiredError(
                f"key {self.key_id} expired at {time_text(self.expires_at)}",
                key_id=self.key_id,
                when=self.expires_at,
            )
