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

A witness that meets a split view (two checkpoints signed by the log key
that cannot both be true) refuses to cosign and reports both notes;
:meth:`CosignatureService.report_split_view` keeps the alarm (beside the log,
like cosignatures) once it has checked that both notes carry the log's
signature and name this track's log, and that at least one of them is not a
checkpoint of the log this service holds: proof that the log key signed a
fork. Every member of the track may read the alarms (the console shows them).

This module does not decide whom a client trusts (the client's
:class:`~backchannel.log.cosignature.WitnessPolicy` does) and does not check
consistency between checkpoints (the witness does, before cosigning).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from backchannel.domain.errors import NotAuthorizedError
from backchannel.domain.ids import PartyKind
from backchannel.domain.keys import KeyRecord
from backchannel.errors import EncodingError, NotFoundError, VerificationError
from backchannel.log.checkpoint import Checkpoint, NoteSignature, NoteVerifier, SignedCheckpoint
from backchannel.log.cosignature import Cosignature, CosignatureVerifier
from backchannel.log.signing import VerifyingKey
from backchannel.service.tracks import TrackService
from backchannel.store.base import StoredCosignature, StoredSplitView

__all__ = ["MAX_FUTURE", "MAX_NOTE", "CosignatureService", "CosignatureUpload", "StoredSplitView"]

MAX_FUTURE = timedelta(seconds=300)
"""How far ahead of the service's clock a cosignature's timestamp may be (the RFC 9421 skew)."""

MAX_NOTE = 4096
"""The longest signed note accepted as split-view evidence, in characters (a checkpoint is a few hundred)."""


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
        key = self._witness_key(track, member, key_id, now, "cosign checkpoints")
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

    def report_split_view(  # noqa: PLR0913 - who, with which key, which two notes, and when
        self, track: str, member: str, key_id: str, old: str, new: str, *, now: datetime
    ) -> tuple[bool, StoredSplitView]:
        """Check and keep a witness's split-view alarm: ``old`` and ``new`` cannot both be true.

        Returns:
            Whether it was stored (False: the same evidence was already reported), and the alarm.

        Raises:
            NotFoundError: no such track.
            NotAuthorizedError: the requester is not a member of a witness party.
            KeyUnusableError: the request's key may no longer sign.
            EncodingError: a note is not a signed checkpoint, or is longer than :data:`MAX_NOTE`.
            VerificationError: a note is not signed by the log key or names another log,
                or both notes are checkpoints of the log this service holds (no split view).
        """
        self._witness_key(track, member, key_id, now, "report split views")
        verifier = NoteVerifier.from_vkey(self._service.log_key)
        origin = self._service.store.get_track(track).origin
        found = [
            self._off_log(track, name, text, verifier, origin) for name, text in (("old", old), ("new", new))
        ]
        reasons = [why for why in found if why is not None]
        if not reasons:
            raise VerificationError(
                f"both checkpoints are checkpoints of the log this service holds for {track!r}: "
                "they are consistent, so they are not a split view"
            )
        alarm = StoredSplitView(member, int(now.timestamp()), old, new, "; ".join(reasons))
        return self._service.store.put_split_view(track, alarm), alarm

    def split_views(self, track: str) -> list[StoredSplitView]:
        """The split-view alarms reported on ``track``, oldest first.

        Raises:
            NotFoundError: no such track.
        """
        return self._service.store.split_views(track)

    def _witness_key(self, track: str, member: str, key_id: str, now: datetime, doing: str) -> KeyRecord:
        state = self._service.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        record = state.member(member)
        kind = state.parties[record.party].kind
        if kind is not PartyKind.WITNESS:
            raise NotAuthorizedError(
                f"{member} ({record.role} of {kind} party {record.party}) may not {doing}: "
                "only a member of a witness party may"
            )
        return state.signing_key(member, key_id, now)

    def _off_log(self, track: str, name: str, text: str, verifier: NoteVerifier, origin: str) -> str | None:
        """Why the note called ``name`` is not a checkpoint of this log (None: it is one)."""
        if len(text) > MAX_NOTE:
            raise EncodingError(f"{name}: a signed note of at most {MAX_NOTE} characters, not {len(text)}")
        try:
            checkpoint: Checkpoint = verifier.verify(SignedCheckpoint.from_text(text))
        except (EncodingError, VerificationError) as e:
            raise type(e)(f"{name}: {e}") from e
        if checkpoint.origin != origin:
            raise VerificationError(f"{name}: the checkpoint names log {checkpoint.origin!r}, not {origin!r}")
        size = self._service.store.size(track)
        if checkpoint.size > size:
            return f"the {name} checkpoint has size {checkpoint.size}, beyond the log's {size} entries"
        if self._service.store.root(track, checkpoint.size) != checkpoint.root:
            return f"the {name} checkpoint's root at size {checkpoint.size} is not the log's"
        return None

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
