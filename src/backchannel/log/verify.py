"""Verify-then-fold: stream a track's entries and checkpoints, trusting nothing.

:class:`LogVerifier` is fed a log in order: every entry, and every checkpoint
as soon as the log reaches its size. It raises
:class:`~backchannel.errors.VerificationError` naming the first bad index. The
numbered steps below are the ones ``docs/design.md`` ("Offline verification")
describes; the code cites them.

For each entry ``i``:

(1) the entry is well formed (strict fields; a store's bytes must also be
    canonical, while an export's JSON layout is free because signatures and
    leaves are recomputed over the canonical form), ``event.seq == i``, and its
    track is the log's track;
(2) ``event.prev`` is the leaf hash of entry ``i - 1`` (``null`` for 0);
(3) the author's signature verifies under a key registered to that author
    earlier in the log; a ``member.key_registered`` event registers the key it
    carries and must itself be signed by that key (proof of possession);
(4) the leaf hash recomputed from the salt and the signed bytes equals the
    stored leaf hash, when the source stores one;
(5) the leaf is appended to a compact range (O(log n) memory).

For each checkpoint:

(6) it is signed by the pinned log key and names the log's origin;
(7) its size is exactly the number of entries seen so far and its root equals
    the recomputed root: so every checkpoint is consistent with every other
    and with the entries;
(8) at the end, the latest checkpoint covers every entry (no unsigned tail).

Key registration here is the log-level bootstrap rule; enrollment by a
principal's signature, rotation and revocation are domain rules (a later issue)
layered on top. This module does no I/O: exports and stores feed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from backchannel.errors import EncodingError, VerificationError
from backchannel.log.checkpoint import NoteVerifier, SignedCheckpoint
from backchannel.log.records import LogEntry
from backchannel.log.signing import VerifyingKey, b64decode
from backchannel.log.tree import CompactRange, NodeId

__all__ = [
    "KEY_REGISTERED",
    "LogVerifier",
    "SignatureCheck",
    "VerificationReport",
    "check_signatures",
    "signature_error",
]

KEY_REGISTERED = "member.key_registered"
"""The event type that registers a member's public keys (body: member, ed25519, x25519)."""


@dataclass(frozen=True, slots=True)
class VerificationReport:
    """What a successful verification established.

    Attributes:
        track: The track verified.
        size: Entries verified.
        root: The root hash over all of them.
        checkpoints: Checkpoints verified.
        latest: The latest checkpoint (covers every entry), or ``None`` if empty.
        members: Member id -> key ids registered to it.
    """

    track: str
    size: int
    root: bytes
    checkpoints: int
    latest: SignedCheckpoint | None
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One deferred step (3) signature check: picklable, so it can run in another process."""

    index: int
    key_id: str
    public_key: bytes
    signature: bytes
    message: bytes


def check_signatures(checks: Sequence[SignatureCheck]) -> SignatureCheck | None:
    """Run deferred signature checks in order; return the first that fails, or ``None``."""
    keys: dict[bytes, VerifyingKey] = {}
    for check in checks:
        key = keys.get(check.public_key)
        if key is None:
            key = keys[check.public_key] = VerifyingKey(check.public_key)
        if not key.is_valid(check.signature, check.message):
            return check
    return None


def signature_error(check: SignatureCheck) -> VerificationError:
    """The error for a failed step (3) signature check."""
    return VerificationError(
        f"entry {check.index}: author signature does not verify ({check.key_id})", index=check.index
    )


class LogVerifier:
    """Streaming verifier of one track's log (see the module docstring's steps).

    Args:
        track: The track the log belongs to.
        origin: The checkpoint origin line the log uses.
        log_key: The pinned verifier of the log's checkpoint signatures.
        defer_signatures: If true, step (3)'s signature checks are not run but
            queued (:meth:`take_signature_checks`), so a caller can run them in
            parallel with :func:`check_signatures`. Every other check still runs
            here, in order; the caller then owns reporting the lowest bad index.
    """

    def __init__(
        self, track: str, origin: str, log_key: NoteVerifier, *, defer_signatures: bool = False
    ) -> None:
        """Start verifying an empty log."""
        self._defer = defer_signatures
        self._deferred: list[SignatureCheck] = []
        self._track = track
        self._origin = origin
        self._log_key = log_key
        self._range = CompactRange()
        self._prev: bytes | None = None
        self._keys: dict[str, VerifyingKey] = {}
        self._owners: dict[str, str] = {}
        self._checkpoints = 0
        self._latest: SignedCheckpoint | None = None

    @property
    def size(self) -> int:
        """Entries verified so far."""
        return self._range.size

    def add_entry(self, entry: LogEntry, stored_leaf: bytes | None = None) -> list[tuple[NodeId, bytes]]:
        """Verify the next entry (steps 1-5).

        Returns:
            Every tree node this entry completed (its leaf first), so a store's
            copies of them can be compared.

        Raises:
            VerificationError: any step failed; ``index`` is the entry's position.
        """
        index = self._range.size
        signed = entry.signed
        event = signed.event
        # (1) position and track
        if event.seq != index:
            raise VerificationError(f"entry {index}: event claims seq {event.seq}", index=index)
        if event.track != self._track:
            raise VerificationError(f"entry {index}: event belongs to track {event.track!r}", index=index)
        # (2) hash chain
        if event.prev != self._prev:
            raise VerificationError(
                f"entry {index}: prev does not match the leaf hash of entry {index - 1}", index=index
            )
        # (3) author signature under a registered key
        event_bytes = event.to_bytes()
        key = self._signing_key(entry, index)
        check = SignatureCheck(index, signed.key_id, key.public_bytes, signed.signature, event_bytes)
        if self._defer:
            self._deferred.append(check)
        elif not key.is_valid(signed.signature, event_bytes):
            raise signature_error(check)
        # (4) leaf hash
        leaf = entry.leaf_hash
        if stored_leaf is not None and stored_leaf != leaf:
            raise VerificationError(
                f"entry {index}: stored leaf hash does not match the event and salt", index=index
            )
        # (5) extend the tree
        nodes = self._range.append(leaf)
        self._prev = leaf
        return nodes

    def _signing_key(self, entry: LogEntry, index: int) -> VerifyingKey:
        signed = entry.signed
        event = signed.event
        if event.type == KEY_REGISTERED:
            return self._register(entry, index)
        key = self._keys.get(signed.key_id)
        if key is None:
            raise VerificationError(f"entry {index}: signed by unregistered key {signed.key_id}", index=index)
        if self._owners[signed.key_id] != event.author:
            raise VerificationError(
                f"entry {index}: key {signed.key_id} belongs to {self._owners[signed.key_id]}, "
                f"not to the author {event.author}",
                index=index,
            )
        return key

    def _register(self, entry: LogEntry, index: int) -> VerifyingKey:
        event = entry.signed.event
        body = event.body
        member = body.get("member")
        ed25519 = body.get("ed25519")
        if member != event.author or not isinstance(ed25519, str):
            raise VerificationError(
                f"entry {index}: {KEY_REGISTERED} must name its author as member and carry an ed25519 key",
                index=index,
            )
        try:
            key = VerifyingKey(b64decode(ed25519, field="body.ed25519", length=32))
        except EncodingError as e:
            raise VerificationError(f"entry {index}: {e}", index=index) from e
        if key.key_id != entry.signed.key_id:
            raise VerificationError(
                f"entry {index}: {KEY_REGISTERED} must be signed by the key it registers", index=index
            )
        owner = self._owners.get(key.key_id)
        if owner is not None and owner != event.author:
            raise VerificationError(
                f"entry {index}: key {key.key_id} is already registered to {owner}", index=index
            )
        self._keys[key.key_id] = key
        self._owners[key.key_id] = event.author
        return key

    @property
    def pending_signature_checks(self) -> int:
        """How many deferred signature checks are waiting to be taken."""
        return len(self._deferred)

    def take_signature_checks(self) -> list[SignatureCheck]:
        """Return and forget the signature checks deferred so far (in log order)."""
        checks, self._deferred = self._deferred, []
        return checks

    def add_checkpoint(self, note: SignedCheckpoint) -> None:
        """Verify a checkpoint of the log as it stands now (steps 6-7).

        Raises:
            VerificationError: bad signature, wrong origin, a size other than the
                entries seen so far, or a root that does not match them.
        """
        size = note.checkpoint.size
        # (6) signature by the pinned log key, and origin
        try:
            checkpoint = self._log_key.verify(note)
        except VerificationError as e:
            raise VerificationError(str(e), index=max(size - 1, 0)) from e
        if checkpoint.origin != self._origin:
            raise VerificationError(
                f"checkpoint of size {size} names origin {checkpoint.origin!r}, expected {self._origin!r}",
                index=max(size - 1, 0),
            )
        # (7) size and root against the recomputed tree
        if size != self._range.size:
            raise VerificationError(
                f"checkpoint of size {size} is out of place: {self._range.size} entries verified so far",
                index=min(size, self._range.size),
            )
        if checkpoint.root != self._range.root():
            raise VerificationError(
                f"checkpoint of size {size}: signed root does not match the entries "
                f"(first bad index <= {size - 1})",
                index=max(size - 1, 0),
            )
        self._checkpoints += 1
        self._latest = note

    def finish(self) -> VerificationReport:
        """Finish (step 8) and report.

        Raises:
            VerificationError: entries after the latest checkpoint (an unsigned tail).
            RuntimeError: deferred signature checks were never taken (a caller bug:
                a report must never claim signatures that were not checked).
        """
        if self._deferred:
            raise RuntimeError("finish() with deferred signature checks not taken")
        covered = 0 if self._latest is None else self._latest.checkpoint.size
        if covered != self._range.size:
            raise VerificationError(
                f"entries {covered}..{self._range.size - 1} are not covered by any signed checkpoint",
                index=covered,
            )
        members: dict[str, list[str]] = {}
        for key_id, owner in self._owners.items():
            members.setdefault(owner, []).append(key_id)
        return VerificationReport(
            track=self._track,
            size=self._range.size,
            root=self._range.root(),
            checkpoints=self._checkpoints,
            latest=self._latest,
            members={m: tuple(ids) for m, ids in sorted(members.items())},
        )
