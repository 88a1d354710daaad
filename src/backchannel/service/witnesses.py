"""Witness cosignatures on the service side: accept, verify, store, and attach them (ADR-0019).

A witness party's member checks each new checkpoint against the last one it
cosigned (:mod:`backchannel.sdk.witness`) and submits a C2SP ``cosignature/v1``
line for it. :meth:`CosignatureService.add` accepts it only if:

1. the requester is a member of a **witness** party of the track
   (:class:`~backchannel.domain.errors.NotAuthorizedError` otherwise);
2. the line is a well-formed cosignature (:class:`~backchannel.errors.EncodingError`);
3. its cosigner name is the requester's member id, and its key ID is that of
   the key the request was signed with, which must be usable now
   (:class:`~backchannel.errors.VerificationError`);
4. a checkpoint of that size exists (:class:`~backchannel.errors.NotFoundError`)
   and the signature verifies over it;
5. its timestamp is not more than :data:`MAX_FUTURE` ahead of the service's clock.

The store keeps the newest cosignature per (checkpoint, witness) beside the
log-signed note (:meth:`~backchannel.store.base.EventStore.put_cosignature`).
Cosignatures are not log events: a cosignature of checkpoint *n* appended to
the log would need checkpoint *n + 1*, which would need cosigning in turn.

:meth:`CosignatureService.checkpoint` returns a signed note with every stored
cosignature line appended after the log's own signature, so a client that
knows nothing of witnesses still verifies it (unknown lines are ignored) and
a client that requires *k* cosignatures counts them itself. With
``cosigned=k`` it returns the newest checkpoint that has at least *k* stored
cosignatures.

This module does not decide whom a client trusts (the client's
:class:`~backchannel.log.cosignature.WitnessPolicy` does) and does not check
consistency between checkpoints (the witness does, before cosigning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backchannel.domain.errors import NotAuthorizedError
from backchannel.domain.ids import PartyKind
from backchannel.errors import NotFoundError, VerificationError
from backchannel.log.checkpoint import NoteSignature, SignedCheckpoint
from backchannel.log.cosignature import Cosignature, CosignatureVerifier
from backchannel.log.signing import VerifyingKey
from backchannel.service.tracks import TrackService
from backchannel.store.base import StoredCosignature

__all__ = ["MAX_FUTURE", "CosignatureService", "CosignatureUpload"]

MAX_FUTURE = timedelta(seconds=300)
"""How far ahead of the service's clock a cosignature's timestamp may be (the RFC 9421 skew)."""


@dataclass(frozen=True, slots=True)
class CosignatureUpload:
    """What :meth:`CosignatureService.add` did.

    Attributes:
        created: True if it was stored (the witness's first for that checkpoint, or newer).
        cosignature: The cosignature, decoded.
        note: The checkpoint with every stored cosignature appended.
    """

    created: bool
    cosignature: Cosignature
    note: SignedCheckpoint


class CosignatureService:
    """Accepts witnesses' cosignatures for a track service's checkpoints and serves cosigned notes.

    Args:
        service: The track service (its store holds checkpoints and cosignatures).
    """

    def __init__(self, service: TrackService) -> None:
        """Wrap the track service."""
        self._service = service

    def add(  # noqa: PLR0913 - who, with which key, for what, and when
        self, track: str, member: str, key_id: str, size: int, line: str, *, now: datetime
    ) -> CosignatureUpload:
        """Verify and store ``member``'s cosignature ``line`` of the checkpoint of ``size``.

        Args:
            track: The track.
            member: The authenticated requester.
            key_id: The key the request was signed with (the cosigning key).
            size: The size of the cosigned checkpoint.
            line: The C2SP signature line.
            now: The service's clock.

        Raises:
            NotFoundError: no such track, or no checkpoint of that size.
            NotAuthorizedError: the requester is not a member of a witness party.
            KeyUnusableError: the key may no longer sign.
            EncodingError: the line is not a cosignature.
            VerificationError: another name or key ID, a signature that does
                not verify over that checkpoint, or a timestamp in the future.
        """
        state = self._service.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        record = state.member(member)
        kind = state.parties[record.party].kind
        if kind is not PartyKind.WITNESS:
            raise NotAuthorizedError(
                f"{member} ({record.role} of {kind} party {record.party}) may not cosign checkpoints: "
                "only a member of a witness party may"
            )
        key = state.signing_key(member, key_id, now)
        cosignature = Cosignature.from_line(line)
        verifier = CosignatureVerifier(member, VerifyingKey(key.ed25519))
        if cosignature.name != member:
            raise VerificationError(
                f"the cosignature is by {cosignature.name!r}, not by the requester {member}"
            )
        if cosignature.key_id != verifier.key_id:
            raise VerificationError(
                f"the cosignature names key ID {cosignature.key_id.hex()}, but {member}'s key {key_id} "
                f"has cosignature key ID {verifier.key_id.hex()}"
            )
        note = self._checkpoint_at(track, size)
        if not verifier.is_valid_for(note.checkpoint, cosignature.to_note_signature()):
            raise VerificationError(
                f"the cosignature by {member} does not verify over the checkpoint of size {size}"
            )
        latest = int((now + MAX_FUTURE).timestamp())
        if cosignature.timestamp > latest:
            raise VerificationError(
                f"the cosignature's timestamp {cosignature.timestamp} is more than "
                f"{int(MAX_FUTURE.total_seconds())} s in the future"
            )
        stored = StoredCosignature(size, member, cosignature.timestamp, cosignature.to_line())
        created = self._service.store.put_cosignature(track, stored)
        return CosignatureUpload(created, cosignature, self.attach(track, note))

    def checkpoint(self, track: str, cosigned: int = 0) -> SignedCheckpoint:
        """The newest checkpoint (with ``cosigned >= 1``: with at least that many cosignatures), cosigned.

        Raises:
            NotFoundError: unknown track, no checkpoint yet, or none with that many cosignatures.
        """
        store = self._service.store
        if cosigned <= 0:
            note = store.latest_checkpoint(track)
            if note is None:
                raise NotFoundError(f"track {track!r} has no checkpoint yet")
            return self.attach(track, note)
        size = store.latest_cosigned_size(track, cosigned)
        if size is None:
            raise NotFoundError(
                f"track {track!r} has no checkpoint with {cosigned} witness cosignature(s) yet"
            )
        return self.attach(track, self._checkpoint_at(track, size))

    def attach(self, track: str, note: SignedCheckpoint) -> SignedCheckpoint:
        """``note`` with every stored cosignature of its checkpoint appended (after its own lines)."""
        for stored in self._service.store.cosignatures(track, note.checkpoint.size):
            note = note.with_signature(NoteSignature.from_line(stored.line))
        return note

    def _checkpoint_at(self, track: str, size: int) -> SignedCheckpoint:
        for note in self._service.store.checkpoints(track, size):
            if note.checkpoint.size == size:
                return note
            break
        raise NotFoundError(f"track {track!r} has no checkpoint of size {size}")
