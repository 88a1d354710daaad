"""Proof of receipt, checked by the sender: :func:`verify_receipt_proof`.

``GET /v1/tracks/{track}/messages/{message_id}/receipts`` answers, for each
party a message was delivered to, one proof (``ReceiptProofModel`` in
:mod:`backchannel.api.schemas`): the entry that delivered the message and, once
the party settled it, the ``receipt.recorded`` entry with the recipient's own
signed ``record_receipt`` embedded verbatim, the signer's Ed25519 key and the
receipt's item for the message. :func:`verify_receipt_proof` trusts none of
it. Given a checkpoint the caller has already verified (signature, and
consistency with every earlier one: :meth:`backchannel.sdk.client.BackchannelClient.checkpoint`)
and a way to fetch inclusion proofs against it, it checks, in order:

(1) the delivery entry's leaf hash recomputes from its signed event and salt,
    it sits at ``delivery_index`` of this track, and it is included in the
    checkpoint;
(2) it delivered this message to this party: a ``message.forwarded`` naming
    the message, or the ``message.reframed`` that created it, with the party
    among its recipients;

and, when the party settled it:

(3) the receipt entry likewise: leaf hash, index ``log_index``, this track,
    included in the checkpoint;
(4) its event is ``receipt.recorded`` and embeds a signed command that is a
    ``record_receipt`` for this track, signed by a member of the party;
(5) the given key's id is derived from the key and is the command's
    ``key_id``, and the command's Ed25519 signature verifies under it;
(6) the command's ``receipt_digest`` is SHA-256 of the canonical JSON of its
    items sorted by message id (:func:`backchannel.protocol.wire.receipt_digest`);
(7) its items hold ``[message_id, delivery_index]``, which is the proof's
    ``item``, and the logged event records exactly this command and these items.

Any failure raises :class:`~backchannel.errors.VerificationError` naming the
party, the check and (when it belongs to one) the log index. This module does
no I/O itself: the caller passes the inclusion proofs in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backchannel.domain.ids import party_of
from backchannel.domain.receipts import ReceiptItem, receipt_items_from_json
from backchannel.errors import BackchannelError, VerificationError
from backchannel.log.checkpoint import Checkpoint
from backchannel.log.merkle import verify_inclusion
from backchannel.log.records import LogEntry
from backchannel.log.signing import VerifyingKey, b64decode
from backchannel.protocol.wire import SignedCommand, receipt_digest

__all__ = ["ReceiptProof", "verify_receipt_proof"]

SETTLED = "settled"
_STATUSES = frozenset({SETTLED, "pending", "dead_lettered"})
_KEY_SIZE = 32


@dataclass(frozen=True, slots=True)
class ReceiptProof:
    """One recipient party's proof of receipt of a message, after :func:`verify_receipt_proof`.

    Attributes:
        party: The recipient party.
        status: ``settled``, ``pending`` or ``dead_lettered``.
        delivery_index: The log index of the entry that delivered the message to the party.
        log_index: The receipt entry's log index (``None`` until settled).
        signer: The recipient member who signed the receipt (``None`` until settled).
        key_id: The key that signed it (``None`` until settled).
        receipt: The recipient's signed ``record_receipt`` (``None`` until settled).
        checkpoint_size: The size of the checkpoint both entries were proven in.
    """

    party: str
    status: str
    delivery_index: int
    log_index: int | None
    signer: str | None
    key_id: str | None
    receipt: SignedCommand | None
    checkpoint_size: int

    @property
    def settled(self) -> bool:
        """True when the party's receipt was verified (every check of the module docstring passed)."""
        return self.receipt is not None


def verify_receipt_proof(
    proof: Mapping[str, Any],
    *,
    track: str,
    message_id: str,
    checkpoint: Checkpoint,
    inclusion: Callable[[int], Sequence[bytes]],
) -> ReceiptProof:
    """Verify one party's proof of receipt (see the module docstring for the checks).

    Args:
        proof: One element of the endpoint's ``receipts`` (JSON, as received).
        track: The track the message is on.
        message_id: The message.
        checkpoint: A checkpoint the caller verified; both entries must be in it.
        inclusion: Returns the audit path of a log index in the tree of
            ``checkpoint.size`` entries (``GET .../proofs/inclusion``).

    Returns:
        What was proven.

    Raises:
        VerificationError: a check failed (malformed proofs included).
    """
    party = str(proof.get("party"))
    against = _Against(track, message_id, party, checkpoint, inclusion)
    where = f"proof of receipt of {message_id} by {party}"
    try:
        return against.verify(proof)
    except VerificationError as e:
        raise VerificationError(f"{where}: {e}", index=e.index) from e
    except (BackchannelError, KeyError, TypeError, ValueError, AttributeError) as e:
        raise VerificationError(f"{where}: malformed proof ({e!r})") from e


@dataclass(frozen=True, slots=True)
class _Against:
    """What a proof must prove, and how to prove inclusion."""

    track: str
    message_id: str
    party: str
    checkpoint: Checkpoint
    inclusion: Callable[[int], Sequence[bytes]]

    def verify(self, proof: Mapping[str, Any]) -> ReceiptProof:
        status = proof["status"]
        if status not in _STATUSES:
            raise VerificationError(f"unknown status {status!r}")
        delivery_index = _index(proof["delivery_index"])
        self.delivery(self.included(proof["delivery"], delivery_index, "delivery"))  # (1), (2)
        size = self.checkpoint.size
        if status != SETTLED:
            if any(proof.get(name) is not None for name in ("log_index", "entry", "signer", "item")):
                raise VerificationError(f"a {status} delivery carries a receipt")
            return ReceiptProof(self.party, status, delivery_index, None, None, None, None, size)
        log_index = _index(proof["log_index"])
        entry = self.included(proof["entry"], log_index, "receipt")  # (3)
        try:
            command = self.receipt(entry, proof["signer"])  # (4), (5)
            self.items(
                entry, command, ReceiptItem(self.message_id, delivery_index), proof["item"]
            )  # (6), (7)
        except VerificationError as e:
            raise VerificationError(str(e), index=e.index if e.index is not None else log_index) from e
        signer = command.member
        return ReceiptProof(
            self.party, status, delivery_index, log_index, signer, command.key_id, command, size
        )

    def included(self, model: Mapping[str, Any], index: int, what: str) -> LogEntry:
        """Decode an entry as the events endpoint renders it; check its leaf, place and inclusion."""
        entry = LogEntry.from_dict({"signed": model["signed"], "salt": model["salt"]})
        if entry.leaf_hash.hex() != model["leaf_hash"]:
            raise VerificationError(
                f"the {what} entry's leaf hash is not that of its event and salt", index=index
            )
        if entry.seq != index or model["index"] != index:
            raise VerificationError(
                f"the {what} entry is entry {entry.seq} (shown as {model['index']}), not {index}", index=index
            )
        if entry.signed.event.track != self.track:
            raise VerificationError(f"the {what} entry is of track {entry.signed.event.track!r}", index=index)
        size = self.checkpoint.size
        if index >= size:
            raise VerificationError(
                f"the {what} entry {index} is beyond the checkpoint of size {size}", index=index
            )
        try:
            verify_inclusion(entry.leaf_hash, index, size, list(self.inclusion(index)), self.checkpoint.root)
        except VerificationError as e:
            raise VerificationError(
                f"the {what} entry {index} is not in the checkpoint of size {size}: {e}", index=index
            ) from e
        return entry

    def delivery(self, entry: LogEntry) -> None:
        """(2): the entry delivered the message to the party."""
        event = entry.signed.event
        inner = event.body.get("event")
        if not isinstance(inner, Mapping):
            raise VerificationError(f"entry {entry.seq} is not a track event", index=entry.seq)
        if event.type == "message.forwarded":
            delivered = inner.get("message_id")
        elif event.type == "message.reframed":
            delivered = inner.get("command_digest")
        else:
            raise VerificationError(f"entry {entry.seq} is a {event.type}, not a delivery", index=entry.seq)
        recipients = inner.get("to_parties")
        if delivered != self.message_id or not isinstance(recipients, list) or self.party not in recipients:
            raise VerificationError(
                f"entry {entry.seq} does not deliver {self.message_id} to {self.party}", index=entry.seq
            )

    def receipt(self, entry: LogEntry, signer: Mapping[str, Any]) -> SignedCommand:
        """(4) and (5): the embedded command is the party's record_receipt, signed by the key given."""
        event = entry.signed.event
        if event.type != "receipt.recorded" or set(event.body) != {"command", "event"}:
            raise VerificationError(f"entry {entry.seq} is not a receipt.recorded track event")
        command = SignedCommand.from_dict(event.body["command"])
        if command.command != "record_receipt" or command.track != self.track:
            raise VerificationError(
                f"entry {entry.seq} embeds a {command.command} for track {command.track!r}, "
                f"not a record_receipt for {self.track!r}"
            )
        if command.member != signer["member"] or party_of(command.member) != self.party:
            raise VerificationError(
                f"the receipt is signed by {command.member}, not by {signer['member']} of {self.party}"
            )
        key = VerifyingKey(b64decode(signer["ed25519"], field="signer.ed25519", length=_KEY_SIZE))
        if key.key_id != signer["key_id"] or key.key_id != command.key_id:
            raise VerificationError(
                f"the key given ({key.key_id}, named {signer['key_id']}) is not the key the receipt "
                f"names ({command.key_id})"
            )
        command.verify(key)
        return command

    def items(
        self, entry: LogEntry, command: SignedCommand, item: ReceiptItem, given: Mapping[str, Any]
    ) -> None:
        """(6) and (7): the digest covers the items, which hold the item; the event records the command."""
        receipt = command.payload["body"]
        assert isinstance(receipt, Mapping)  # SignedCommand checked that the body is an object
        items = receipt_items_from_json(receipt["items"], "body.items")
        if receipt_digest(items).hex() != receipt["receipt_digest"]:
            raise VerificationError(
                "the receipt_digest is not SHA-256 of the canonical JSON of its items sorted by message id"
            )
        if item not in items:
            raise VerificationError(f"the receipt's items do not hold [{item.message_id}, {item.log_index}]")
        if ReceiptItem(given["message_id"], given["log_index"]) != item:
            raise VerificationError(f"the proof's item {given} is not [{item.message_id}, {item.log_index}]")
        logged = entry.signed.event.body["event"]
        if (
            not isinstance(logged, Mapping)
            or logged.get("command_digest") != command.digest.hex()
            or logged.get("by") != command.member
            or receipt_items_from_json(logged.get("items"), "event.items") != items
        ):
            raise VerificationError(f"entry {entry.seq} does not record the command it embeds")


def _index(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerificationError(f"expected a log index, got {value!r:.40}")
    return value
