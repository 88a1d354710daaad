"""Admission of a batch-signed submission (ADR-0051): its shape, then its one signature.

A batch-signed submission is the whole batch a member signed once
(:mod:`backchannel.protocol.batch`): ``size`` commands, command ``i`` carrying
the proof of leaf ``i``. Before any command runs, :func:`check_batch` refuses a
submission that is not one such batch, naming the field and the rule, and
:func:`verify_batch` checks the one signature under the key the member may use
now, and every command's inclusion path. Then each command goes through the
single command path like any other (idempotency, decide, append), is appended
as its own entry and carries its proof into the log, where it verifies alone.

The rules (``field``: ``rule``):

- ``commands``: ``max_batch`` (1 to :data:`MAX_BATCH_SIZE` commands) and
  ``complete_batch`` (as many commands as the batch's ``size``);
- ``commands.<i>.batch``: ``batch_signed`` (a proof, not a ``sig``);
- ``commands.<i>.batch.root`` / ``.size`` / ``.signature``: ``one_batch`` (the
  same as command 0's); ``commands.<i>.batch.index``: ``batch_order`` (``i``);
- ``commands.<i>.payload.track`` / ``.member`` / ``.key_id``: ``one_track``,
  ``one_author``, ``one_key``;
- ``commands.<i>.payload.command``: ``not_batchable`` (``open_track``);
- ``commands.<i>``: ``unique`` (no digest twice);
- ``commands.<i>.batch.path``: ``inclusion``; ``commands.0.batch.signature``:
  ``signature`` (a :class:`~backchannel.errors.VerificationError`).

This module does not authenticate the request (RFC 9421, the API does) and does
not decide or append anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from backchannel.domain.errors import SchemaViolationError, Violation
from backchannel.domain.state import TrackState
from backchannel.errors import VerificationError
from backchannel.log import merkle
from backchannel.log.signing import VerifyingKey
from backchannel.protocol.batch import MAX_BATCH_SIZE, BatchProof, batch_leaf, verify_root
from backchannel.protocol.wire import SignedCommand
from backchannel.service.verification import AheadOfCommit

__all__ = ["MAX_BATCH_SIZE", "check_batch", "verify_batch"]


def check_batch(track: str, commands: Sequence[SignedCommand]) -> list[BatchProof]:
    """Refuse a submission that is not one whole batch of one author's commands for ``track``.

    Returns:
        Each command's proof, in order.

    Raises:
        SchemaViolationError: every rule broken (see the module docstring).
    """
    if not 1 <= len(commands) <= MAX_BATCH_SIZE:
        raise SchemaViolationError(
            [Violation("commands", "max_batch", f"commands: a batch holds 1 to {MAX_BATCH_SIZE} commands")]
        )
    proofs: list[BatchProof] = []
    found: list[Violation] = []
    for position, signed in enumerate(commands):
        if signed.batch is None:
            found.append(
                Violation(
                    f"commands.{position}.batch",
                    "batch_signed",
                    f"commands.{position}: carries its own sig; this route takes batch-signed commands",
                )
            )
        else:
            proofs.append(signed.batch)
    if found:
        raise SchemaViolationError(found)
    first, head = proofs[0], commands[0]
    if first.size != len(commands):
        found.append(
            Violation(
                "commands",
                "complete_batch",
                f"commands: the batch signed holds {first.size} commands, the request {len(commands)}",
            )
        )
    seen: dict[bytes, int] = {}
    for position, (signed, proof) in enumerate(zip(commands, proofs, strict=True)):
        found += _violations(position, signed, proof, head=head, track=track)
        if (earlier := seen.setdefault(signed.digest, position)) != position:
            found.append(
                Violation(
                    f"commands.{position}",
                    "unique",
                    f"commands.{position}: the same command as commands.{earlier} (digest "
                    f"{signed.digest.hex()}); a batch holds each command once",
                )
            )
    if found:
        raise SchemaViolationError(found)
    return proofs


def _violations(
    position: int, signed: SignedCommand, proof: BatchProof, *, head: SignedCommand, track: str
) -> list[Violation]:
    at, first = f"commands.{position}", head.batch
    assert first is not None
    found = [
        Violation(f"{at}.batch.{name}", "one_batch", f"{at}.batch.{name}: differs from commands.0's")
        for name in ("root", "size", "signature")
        if getattr(proof, name) != getattr(first, name)
    ]
    if proof.index != position:
        found.append(
            Violation(
                f"{at}.batch.index", "batch_order", f"{at}.batch.index: {proof.index}, expected {position}"
            )
        )
    for name, rule, expected in (
        ("track", "one_track", track),
        ("member", "one_author", head.member),
        ("key_id", "one_key", head.key_id),
    ):
        value = getattr(signed, name)
        if value != expected:
            found.append(
                Violation(
                    f"{at}.payload.{name}",
                    rule,
                    f"{at}.payload.{name}: {value}, but a batch holds one author's commands for one "
                    f"track under one key ({expected})",
                )
            )
    if signed.command == "open_track":
        found.append(
            Violation(f"{at}.payload.command", "not_batchable", f"{at}: open_track cannot be batched")
        )
    return found


def verify_batch(
    state: TrackState, commands: Sequence[SignedCommand], now: datetime, ahead: AheadOfCommit | None = None
) -> None:
    """Check every inclusion path, then the one signature under the key the author may use at ``now``.

    Call :func:`check_batch` first. The signature, once verified, is remembered
    (:func:`~backchannel.protocol.batch.verify_root`), so each command's own
    check on the single command path costs no second Ed25519 verification.
    Given ``ahead``, every command is remembered there as verified under that
    key, so the committer checks neither its path nor its signature again.

    Raises:
        VerificationError: ``commands.<i>.batch.path`` does not lead to the root,
            or ``commands.0.batch.signature`` does not verify.
        DomainError: the author or key is unknown, revoked or expired (its subclass says which).
    """
    head = commands[0]
    assert head.batch is not None  # check_batch
    for position, signed in enumerate(commands):
        proof = signed.batch
        assert proof is not None
        try:
            merkle.verify_inclusion(
                batch_leaf(signed.digest), proof.index, proof.size, proof.path, proof.root
            )
        except VerificationError as e:
            raise VerificationError(f"commands.{position}.batch.path: inclusion rule: {e}") from e
    key = VerifyingKey(state.signing_key(head.member, head.key_id, now).ed25519)
    try:
        verify_root(key, head.batch.root, head.batch.size, head.batch.signature)
    except VerificationError as e:
        raise VerificationError(
            f"commands.0.batch.signature: signature rule: the batch root's signature does not verify "
            f"under {head.key_id} of {head.member}"
        ) from e
    if ahead is not None:
        ahead.remember(commands, key.public_bytes)
