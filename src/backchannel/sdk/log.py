"""The verified log: entries, checkpoints, proofs, witnesses and receipts: ``client.log``.

- :meth:`LogClient.events` returns the visible entries and checks every leaf
  hash against the entry and salt it came with; :meth:`LogClient.search` the
  same, filtered by type, member and time on the service.
- :meth:`LogClient.checkpoint` verifies the signed note with the pinned log key
  (or, trust on first use, the one ``GET /v1/service`` names), keeps the last
  checkpoint seen per track and verifies a consistency proof from it to every
  newer one. Two checkpoints that cannot both be true raise
  :class:`~backchannel.sdk.session.ForkDetectedError`, carrying both notes.
- :meth:`LogClient.verify_inclusion` proves an entry is in the log the latest
  verified checkpoint commits to.
- :meth:`LogClient.receipt_proofs` fetches the proof of receipt of one of the
  party's own messages and verifies it for each recipient party
  (:mod:`backchannel.sdk.receipts`).

**Witnesses** (ADR-0019). Given a :class:`~backchannel.log.cosignature.WitnessPolicy`
(:func:`witness_policy`), a checkpoint is trusted only once the quorum of known
witnesses has cosigned it validly (C2SP ``cosignature/v1``):
:meth:`LogClient.checkpoint` returns the newest checkpoint that meets the quorum
(asking the service for ``?cosigned=k`` when the latest one does not yet) and
raises :class:`~backchannel.log.cosignature.InsufficientCosignaturesError` when
there is none. :meth:`LogClient.fetch_checkpoint`,
:meth:`LogClient.consistency_proof` and :meth:`LogClient.add_cosignature` are
what a witness program (:mod:`backchannel.sdk.witness`) is built on.

This module does not sign commands (the client does).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from backchannel.domain import TrackState
from backchannel.errors import ConfigurationError, VerificationError
from backchannel.log.checkpoint import Checkpoint, NoteVerifier, SignedCheckpoint
from backchannel.log.cosignature import CosignatureVerifier, WitnessPolicy
from backchannel.log.merkle import verify_consistency
from backchannel.log.merkle import verify_inclusion as merkle_verify_inclusion
from backchannel.log.records import LogEntry
from backchannel.log.signing import VerifyingKey
from backchannel.protocol.annexes import roster
from backchannel.sdk.receipts import ReceiptProof, verify_receipt_proof
from backchannel.sdk.session import ForkDetectedError, ProblemError, Session

__all__ = ["LogClient", "witness_policy"]

_MAX_PAGES = 1_000_000
"""A bound on the pages one read follows (a service that never ends a listing is refused)."""


class LogClient:
    """The log as this member may read it, verified against the log key and the witnesses."""

    def __init__(self, session: Session, *, pinned_log_key: str | None, witnesses: WitnessPolicy) -> None:
        """Bind to the signed transport, the pinned log key (``None``: trust on first use), the witnesses."""
        self._session = session
        self._log_key = None if pinned_log_key is None else NoteVerifier.from_vkey(pinned_log_key)
        self._checkpoints: dict[str, SignedCheckpoint] = {}
        self._witnesses = witnesses

    @property
    def witnesses(self) -> WitnessPolicy:
        """The witness policy checkpoints must meet before they are trusted."""
        return self._witnesses

    def events(self, track: str, after: int = 0) -> list[dict[str, Any]]:
        """Every entry visible to this member from index ``after`` on, leaf hashes checked.

        Raises:
            VerificationError: an entry whose leaf hash is not that of its event and salt.
        """
        return self._entries(track, after, {})

    def search(  # noqa: PLR0913 - the track, then keyword-only filters
        self,
        track: str,
        *,
        types: Sequence[str] = (),
        member: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: int = 0,
    ) -> list[dict[str, Any]]:
        """The entries visible to this member that match every filter given, leaf hashes checked.

        Args:
            track: The track.
            types: Keep these log event types (``message.submitted``...); empty: all.
            member: Keep the entries of this member's commands.
            since: Keep entries created at or after this instant (aware).
            until: Keep entries created before this instant (aware).
            after: Start at this log index.

        Raises:
            VerificationError: an entry whose leaf hash is not that of its event and salt.
        """
        params: dict[str, Any] = {"type": list(types)} if types else {}
        if member is not None:
            params["member"] = member
        for name, moment in (("since", since), ("until", until)):
            if moment is not None:
                params[name] = moment.isoformat()
        return self._entries(track, after, params)

    def _entries(self, track: str, after: int, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = after
        for _ in range(_MAX_PAGES):
            request = self._session.signed_request(
                "GET", f"/v1/tracks/{track}/events", params={**params, "after": cursor, "limit": 1000}
            )
            page = self._session.read_json(self._session.send_request(request))
            found.extend(_checked(item) for item in page["entries"])
            if page["next"] <= cursor or page["next"] >= page["size"]:
                return found
            cursor = page["next"]
        raise VerificationError(f"track {track!r}: the service kept paging past {_MAX_PAGES} pages")

    def roster(self, track: str) -> TrackState:
        """The track's parties, members and keys, folded from the entries this member may read.

        Raises:
            NotFoundError: this member sees no membership events (a witness).
        """
        return roster(self.events(track))

    def _verifier(self) -> NoteVerifier:
        if self._log_key is None:
            self._log_key = NoteVerifier.from_vkey(self._session.service_info()["log_key"])
        return self._log_key

    def checkpoint(self, track: str) -> Checkpoint:
        """Fetch, verify and remember the track's newest trusted checkpoint.

        Trusted means: signed by the log key, consistent with the last
        checkpoint trusted before, and cosigned by the witness quorum (see the
        module docstring). The latest checkpoint is fetched first; if it lacks
        the quorum, the newest one that has it (``?cosigned=k``).

        Raises:
            VerificationError: the note is not signed by the log key.
            ForkDetectedError: it is inconsistent with the last checkpoint trusted
                (or with the latest one the service shows); both notes attached.
            InsufficientCosignaturesError: no checkpoint meets the witness quorum.
        """
        note = self.fetch_checkpoint(track)
        checkpoint = self._verifier().verify(note)
        previous = self._checkpoints.get(track)
        if previous is not None:
            self.check_consistency(track, previous, note)
        if not self._witnesses.check(note).satisfied:
            note = self._cosigned(track, note)
            checkpoint = note.checkpoint
        if previous is not None and previous.checkpoint.size > checkpoint.size:
            return previous.checkpoint  # an older view: consistent, but keep the newest
        self._checkpoints[track] = note
        return checkpoint

    def _cosigned(self, track: str, latest: SignedCheckpoint) -> SignedCheckpoint:
        """The newest checkpoint meeting the quorum, checked against ``latest`` and the last trusted one."""
        where = f"track {track!r}"
        try:
            note = self.fetch_checkpoint(track, cosigned=self._witnesses.quorum)
        except ProblemError as e:
            if e.status != 404:
                raise
            self._witnesses.require(latest, origin=where)  # raises, naming what the latest one has
            raise  # pragma: no cover - require raised: the latest one lacks the quorum
        self._verifier().verify(note)
        self.check_consistency(track, note, latest)  # both log-signed: a fork between them is provable
        previous = self._checkpoints.get(track)
        if previous is not None:
            self.check_consistency(track, previous, note)
        self._witnesses.require(note, origin=where)
        return note

    def fetch_checkpoint(self, track: str, *, cosigned: int | None = None) -> SignedCheckpoint:
        """``GET .../checkpoint``: the latest signed note (``cosigned=k``: the newest with k cosignatures).

        Nothing is verified or remembered: :meth:`checkpoint` does both.

        Raises:
            ProblemError: 404 when there is no such checkpoint.
            EncodingError: the note does not parse.
        """
        params = {} if cosigned is None else {"cosigned": cosigned}
        return SignedCheckpoint.from_text(
            self._session.get_json(f"/v1/tracks/{track}/checkpoint", **params)["checkpoint"]
        )

    def consistency_proof(self, track: str, old: int, new: int) -> list[bytes]:
        """``GET .../proofs/consistency``: the RFC 9162 proof from size ``old`` to ``new`` (not verified)."""
        answer = self._session.get_json(f"/v1/tracks/{track}/proofs/consistency", old=old, new=new)
        return [bytes.fromhex(h) for h in answer["proof"]]

    def add_cosignature(self, track: str, size: int, line: str) -> dict[str, Any]:
        """``POST .../checkpoints/{size}/cosignatures``: submit this witness member's cosignature line.

        Returns:
            ``{"track", "size", "cosigner", "timestamp", "checkpoint"}`` plus
            ``"created"``: False when an equal or newer cosignature was already kept.

        Raises:
            ProblemError: refused (403 not a witness, 422 a line that does not verify, ...).
        """
        status, answer = self._session.post_json(
            f"/v1/tracks/{track}/checkpoints/{size}/cosignatures", {"cosignature": line}
        )
        return {**answer, "created": status == 201}

    def report_split_view(self, track: str, old: str, new: str) -> dict[str, Any]:
        """``POST .../split-views``: report two signed checkpoints that cannot both be true (witnesses only).

        Returns:
            ``{"track", "split_views"}`` (every alarm of the track) plus ``"created"``:
            False when the same evidence was already kept.

        Raises:
            ProblemError: refused (403 not a witness; 422 a note not signed by the log key,
                or two notes that are both checkpoints of the service's log).
        """
        status, answer = self._session.post_json(f"/v1/tracks/{track}/split-views", {"old": old, "new": new})
        return {**answer, "created": status == 201}

    def split_views(self, track: str) -> list[dict[str, Any]]:
        """``GET .../split-views``: the track's split-view alarms, oldest first (any member)."""
        alarms: list[dict[str, Any]] = self._session.get_json(f"/v1/tracks/{track}/split-views")[
            "split_views"
        ]
        return alarms

    def latest_checkpoint(self, track: str) -> SignedCheckpoint | None:
        """The newest signed checkpoint this client has verified for ``track`` (``None`` if none yet)."""
        return self._checkpoints.get(track)

    def check_consistency(self, track: str, a: SignedCheckpoint, b: SignedCheckpoint) -> None:
        """Prove two signed checkpoints of ``track`` consistent (one log, the smaller a prefix).

        Both notes must already be verified (:meth:`checkpoint` does that).

        Raises:
            ForkDetectedError: they are not consistent; both notes are attached as evidence.
        """
        old, new = sorted((a, b), key=lambda n: n.checkpoint.size)
        proof: list[bytes] = []
        if old.checkpoint.size not in {0, new.checkpoint.size}:
            proof = self.consistency_proof(track, old.checkpoint.size, new.checkpoint.size)
        try:
            if old.checkpoint.size == 0:
                return  # the empty tree is a prefix of every tree
            verify_consistency(
                old.checkpoint.size, new.checkpoint.size, old.checkpoint.root, new.checkpoint.root, proof
            )
        except VerificationError as e:
            raise ForkDetectedError(
                f"track {track!r}: the log forked: checkpoints of sizes {a.checkpoint.size} and "
                f"{b.checkpoint.size} are not consistent ({e})",
                old_note=a.to_text(),
                new_note=b.to_text(),
            ) from e

    def verify_inclusion(self, track: str, index: int, leaf_hash: bytes | str) -> Checkpoint:
        """Prove that entry ``index`` with ``leaf_hash`` is in the latest verified checkpoint.

        Returns:
            The checkpoint the proof is against.

        Raises:
            VerificationError: the proof does not lead to the checkpoint's root
                (or the checkpoint itself fails, see :meth:`checkpoint`).
        """
        leaf = bytes.fromhex(leaf_hash) if isinstance(leaf_hash, str) else leaf_hash
        checkpoint = self.checkpoint(track)
        answer = self._session.get_json(
            f"/v1/tracks/{track}/proofs/inclusion", index=index, size=checkpoint.size
        )
        proof = [bytes.fromhex(h) for h in answer["proof"]]
        merkle_verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root)
        return checkpoint

    def receipt_proofs(self, track: str, message_id: str) -> list[ReceiptProof]:
        """Fetch and verify the proof of receipt of one of this member's party's messages.

        ``GET .../messages/{message_id}/receipts`` gives one proof per recipient
        party. Each is checked by :func:`~backchannel.sdk.receipts.verify_receipt_proof`
        against the latest checkpoint (verified, and consistent with every one
        seen before: :meth:`checkpoint`): the delivery and receipt entries are in
        the log, the receipt is the recipient's own ``record_receipt`` whose
        signature verifies under the key given (its id the one the command
        names), whose ``receipt_digest`` matches its items, and whose items
        name this message at the log index that delivered it.

        Returns:
            One proof per recipient party, in delivery order; parties that have not
            settled are ``pending`` or ``dead_lettered`` (their delivery is still proven).

        Raises:
            VerificationError: any check failed (``ForkDetectedError`` if the log forked).
            ProblemError: 404 for a message that does not exist or is not this party's
                (the mediator may ask about any).
        """
        answer = self._session.get_json(f"/v1/tracks/{track}/messages/{message_id}/receipts")
        if answer.get("track") != track or answer.get("message_id") != message_id:
            raise VerificationError(
                f"asked for the receipts of {message_id} on {track!r}, got another answer"
            )
        checkpoint = self.checkpoint(track)  # after the answer: the log only grows, so it covers the entries

        def inclusion(index: int) -> list[bytes]:
            found = self._session.get_json(
                f"/v1/tracks/{track}/proofs/inclusion", index=index, size=checkpoint.size
            )
            return [bytes.fromhex(h) for h in found["proof"]]

        proofs = [
            verify_receipt_proof(
                p, track=track, message_id=message_id, checkpoint=checkpoint, inclusion=inclusion
            )
            for p in answer["receipts"]
        ]
        parties = [p.party for p in proofs]
        if len(set(parties)) != len(parties):
            raise VerificationError(f"the receipts of {message_id} name a party twice: {parties}")
        return proofs


def _checked(item: dict[str, Any]) -> dict[str, Any]:
    entry = LogEntry.from_dict({"signed": item["signed"], "salt": item["salt"]})
    if entry.leaf_hash.hex() != item["leaf_hash"] or entry.seq != item["index"]:
        raise VerificationError(
            f"entry {item['index']}: its leaf hash is not that of its event and salt", index=item["index"]
        )
    return item


def witness_policy(witnesses: Mapping[str, VerifyingKey | str], quorum: int | None = None) -> WitnessPolicy:
    """The policy of ``witnesses`` (member id -> key or vkey text) requiring ``quorum`` (default: all).

    Raises:
        ConfigurationError: a vkey whose name is not its witness's, or a quorum that can never be met.
        EncodingError: malformed vkey text.
    """
    verifiers: list[CosignatureVerifier] = []
    for name, key in witnesses.items():
        verifier = (
            CosignatureVerifier.from_vkey(key) if isinstance(key, str) else CosignatureVerifier(name, key)
        )
        if verifier.name != name:
            raise ConfigurationError(f"witness {name!r}: its vkey names {verifier.name!r}")
        verifiers.append(verifier)
    return WitnessPolicy.of(verifiers, len(verifiers) if quorum is None else quorum)
