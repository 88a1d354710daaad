r"""Sealed annexes on the wire: the blob format, its context, and helpers to seal, open and address them.

An annex travels as a blob that the service stores and relays verbatim
(:mod:`backchannel.service.annexes`); a message names it by the blob's SHA-256
(:func:`annex_digest`, 64 lowercase hex digits, the form ``annexes`` takes in a
command). A blob is either plain bytes or a **sealed annex**: the RFC 8785
canonical JSON of :meth:`SealedAnnex.to_dict <backchannel.log.sealing.SealedAnnex.to_dict>`
(``backchannel/seal/v1``: X25519 + HKDF-SHA256 + ChaCha20-Poly1305), which only
the holder of one member's X25519 private key can open.

**One recipient per blob.** :func:`~backchannel.log.sealing.seal` seals to
one X25519 key, so an annex for a party is sealed once per recipient member:
:func:`seal_for_party` seals it to every active member of the party (each
member's newest unrevoked key, observers included, the service node never)
and returns one blob per member. A message that carries the annex names every
one of those digests; each recipient member fetches them and opens the one
sealed to its own key id (:func:`open_annex`).

**Context.** A blob is sealed under ``annex_context(track, member)``:
``b"backchannel/annex/v1\n" + track + b"\n" + member`` (UTF-8), binding it to
the track and the recipient member, so that it cannot be opened as another
track's or another member's annex. It cannot name the message: the message's
id is the digest of a command that names the blob's digest. Which message
carries it is proven by the author's signed command; a seal proves nothing
about who sealed it (see :mod:`backchannel.log.sealing`).

Keys: the members' X25519 public keys are public track metadata
(``track.opened``, ``party.admitted``, ``member.enrolled``, ``key.rotated``);
:func:`roster` folds them from the entries a member may read, and
:func:`party_recipients` picks each active member's current key.

This module draws a fresh ephemeral key for every seal (``seal`` must never
reuse one) and does no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from backchannel.domain import Event, TrackState, event_from_dict, evolve
from backchannel.domain.ids import Role
from backchannel.errors import EncodingError, NotFoundError
from backchannel.log.canonical import canonicalize, loads_strict
from backchannel.log.sealing import SealedAnnex, open_sealed, seal
from backchannel.log.signing import AgreementKey
from backchannel.protocol.keyfile import generate_agreement_key

__all__ = [
    "CONTEXT_PREFIX",
    "annex_context",
    "annex_digest",
    "open_annex",
    "party_recipients",
    "read_sealed",
    "roster",
    "seal_annex",
    "seal_for_party",
]

CONTEXT_PREFIX = b"backchannel/annex/v1\n"
"""The first bytes of every annex context (:func:`annex_context`)."""

_ROSTER_TYPES = frozenset({"track.opened", "party.admitted", "member.enrolled", "key.rotated", "key.revoked"})


def annex_digest(blob: bytes) -> str:
    """The digest a message names a blob by: SHA-256, 64 lowercase hex digits."""
    return hashlib.sha256(blob).hexdigest()


def annex_context(track: str, member: str) -> bytes:
    """The context a blob for ``member`` on ``track`` is sealed under (see the module docstring)."""
    return CONTEXT_PREFIX + track.encode() + b"\n" + member.encode()


def seal_annex(data: bytes, *, track: str, member: str, x25519: bytes) -> bytes:
    """Seal ``data`` to ``member``'s X25519 public key ``x25519``; return the blob to upload.

    A fresh ephemeral key is drawn for this call and discarded.

    Raises:
        EncodingError: ``data`` is over 16 MiB, or the key is not 32 bytes.
        VerificationError: a low-order public key.
    """
    sealed = seal(data, x25519, ephemeral=generate_agreement_key(), context=annex_context(track, member))
    return canonicalize(sealed.to_dict())


def read_sealed(blob: bytes) -> SealedAnnex:
    """Parse a blob as a sealed annex (strictly).

    Raises:
        EncodingError: the blob is not a sealed annex (plain bytes, another suite, a bad field).
    """
    try:
        return SealedAnnex.from_dict(loads_strict(blob.decode("utf-8")))
    except UnicodeDecodeError as e:
        raise EncodingError("the annex is not a sealed annex: not UTF-8 JSON") from e
    except EncodingError as e:
        raise EncodingError(f"the annex is not a sealed annex: {e}") from e


def open_annex(blob: bytes, *, track: str, member: str, key: AgreementKey) -> bytes:
    """Open a blob sealed to ``member`` (whose X25519 key is ``key``) on ``track``.

    Raises:
        EncodingError: the blob is not a sealed annex.
        VerificationError: it is sealed to another key, track or member, or was altered.
    """
    return open_sealed(read_sealed(blob), key, context=annex_context(track, member))


def roster(entries: Iterable[Mapping[str, Any]]) -> TrackState:
    """The track's parties, members and keys, folded from log entries as ``GET .../events`` returns them.

    Only the membership events are applied (every non-witness reader sees all
    of them), so a delegation's partial view folds as well as the mediator's.

    Raises:
        NotFoundError: the entries hold no ``track.opened`` (a witness sees none).
        EncodingError: an event that does not decode.
    """
    state: TrackState | None = None
    for item in entries:
        body = item["signed"]["event"]["body"]
        inner = body.get("event") if isinstance(body, Mapping) else None
        if isinstance(inner, Mapping) and inner.get("type") in _ROSTER_TYPES:
            event: Event = event_from_dict(dict(inner))
            state = evolve(state, event)
    if state is None:
        raise NotFoundError("no track.opened among the entries: the members and their keys are unknown")
    return state


def party_recipients(state: TrackState, party: str) -> dict[str, bytes]:
    """Every active member of ``party`` (but the service node) and its current X25519 public key.

    "Active" and "current": the member's newest key that was never revoked.

    Raises:
        UnknownPartyError: no such party.
    """
    state.party(party)
    recipients: dict[str, bytes] = {}
    for member in state.members_of(party):
        keys = [k for k in member.keys if k.revoked_at is None]
        if member.role is not Role.SERVICE and keys:
            recipients[member.member] = keys[-1].x25519
    return recipients


def seal_for_party(data: bytes, *, track: str, state: TrackState, party: str) -> dict[str, bytes]:
    """Seal ``data`` to every active member of ``party``: member -> its blob.

    Raises:
        UnknownPartyError: no such party.
        NotFoundError: the party has no active member.
    """
    recipients = party_recipients(state, party)
    if not recipients:
        raise NotFoundError(f"party {party!r} has no active member to seal to")
    return {
        member: seal_annex(data, track=track, member=member, x25519=x25519)
        for member, x25519 in recipients.items()
    }
