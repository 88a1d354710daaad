"""Batch validation shared by every EventStore adapter.

:func:`prepare_batch` checks a batch against the size it claims to extend,
before anything is written: a non-empty batch, consecutive ``seq`` from the
expected size, every entry on the batch's track, exactly the tree nodes the
batch completes (each leaf recomputed from its entry's salt and bytes), and a
checkpoint for the new size. It returns the rows to write. The size itself
and the checkpoint's origin are checked by the adapter under its lock or
inside its transaction.

:func:`parse_note` parses a stored checkpoint note for any adapter.

This module performs no I/O and keeps no state.
"""

from __future__ import annotations

from dataclasses import dataclass

from backchannel.errors import ConflictError, EncodingError, ProgrammingError, VerificationError
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.log.merkle import leaf_hash
from backchannel.log.records import commitment
from backchannel.log.tree import NodeId
from backchannel.store.base import AppendBatch

__all__ = [
    "EntryRow",
    "PreparedBatch",
    "check_origin",
    "check_read_range",
    "completed_nodes",
    "parse_note",
    "prepare_batch",
    "size_conflict",
]

_HASH_SIZE = 32


@dataclass(frozen=True, slots=True)
class EntryRow:
    """One entry as an adapter writes it.

    Attributes:
        seq: The log index.
        signed_bytes: The canonical signed-event bytes.
        salt: The leaf salt.
    """

    seq: int
    signed_bytes: bytes
    salt: bytes


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A validated batch, reduced to the rows an adapter writes.

    Attributes:
        track: The track id.
        expected_size: The size the batch extends.
        new_size: The size after the batch.
        entries: The entry rows, in ``seq`` order.
        nodes: ``(level, index, hash)`` of every node the batch completes, leaves included.
        checkpoint: The batch's signed checkpoint (for ``new_size``).
    """

    track: str
    expected_size: int
    new_size: int
    entries: list[EntryRow]
    nodes: list[tuple[int, int, bytes]]
    checkpoint: SignedCheckpoint


def completed_nodes(old_size: int, new_size: int) -> list[NodeId]:
    """The perfect-subtree nodes completed by growing a tree from ``old_size`` to ``new_size``.

    Appending leaf ``i`` completes node ``(level, ((i + 1) >> level) - 1)`` for
    every ``level`` with ``(i + 1) % 2**level == 0`` (level 0 is the leaf), in
    the order :meth:`~backchannel.log.tree.CompactRange.append` reports them.

    Args:
        old_size: The size before.
        new_size: The size after (``>= old_size``).

    Returns:
        The node ids, leaf first for each new leaf, then upwards.
    """
    ids: list[NodeId] = []
    for seq in range(old_size, new_size):
        count = seq + 1
        level = 0
        while True:
            ids.append((level, (count >> level) - 1))
            level += 1
            if count & ((1 << level) - 1):
                break
    return ids


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == _HASH_SIZE


def _check_expected_size(expected_size: object) -> None:
    if type(expected_size) is not int or expected_size < 0:
        raise ProgrammingError(f"append: expected_size must be an integer >= 0, got {expected_size!r}")


def _entry_rows(batch: AppendBatch, expected_size: int) -> list[EntryRow]:
    rows: list[EntryRow] = []
    for offset, entry in enumerate(batch.entries):
        want = expected_size + offset
        event = entry.signed.event
        if event.seq != want:
            raise ProgrammingError(
                f"append to {batch.track!r}: entry {offset} has seq {event.seq}, expected {want} "
                f"(entries must be consecutive from expected_size {expected_size})"
            )
        if event.track != batch.track:
            raise ProgrammingError(
                f"append to {batch.track!r}: entry {offset} (seq {want}) belongs to track {event.track!r}"
            )
        rows.append(EntryRow(want, entry.signed.to_bytes(), entry.salt))
    return rows


def _node_rows(batch: AppendBatch, rows: list[EntryRow], expected_size: int) -> list[tuple[int, int, bytes]]:
    new_size = expected_size + len(rows)
    wanted = completed_nodes(expected_size, new_size)
    given: dict[NodeId, bytes] = {}
    for node_id, node_hash in batch.nodes:
        if node_id in given:
            raise ProgrammingError(f"append to {batch.track!r}: node {node_id} appears twice")
        if not _is_hash(node_hash):
            raise ProgrammingError(f"append to {batch.track!r}: node {node_id} hash is not 32 bytes")
        given[node_id] = node_hash
    missing = [node_id for node_id in wanted if node_id not in given]
    if missing:
        raise ProgrammingError(
            f"append to {batch.track!r}: node {missing[0]} is missing ({len(missing)} missing; "
            f"a batch from size {expected_size} to {new_size} must carry every node it completes)"
        )
    if len(given) != len(wanted):
        extra = sorted(set(given) - set(wanted))
        raise ProgrammingError(
            f"append to {batch.track!r}: node {extra[0]} is not completed by growing "
            f"from size {expected_size} to {new_size}"
        )
    for row in rows:
        if given[0, row.seq] != leaf_hash(commitment(row.salt, row.signed_bytes)):
            raise ProgrammingError(
                f"append to {batch.track!r}: node (0, {row.seq}) is not the leaf hash of entry {row.seq}"
            )
    return [(level, index, given[level, index]) for level, index in wanted]


def prepare_batch(batch: AppendBatch, expected_size: int) -> PreparedBatch:
    """Validate a batch against the size it extends and return the rows to write.

    Pure: reads nothing from any store. The checks, each refused with a
    :class:`~backchannel.errors.ProgrammingError` naming the rule:

    1. ``expected_size`` is an integer ``>= 0`` and the batch has entries;
    2. entry ``k`` has ``seq == expected_size + k`` and the batch's track;
    3. ``nodes`` holds exactly the nodes growing the tree completes (no
       duplicates, none missing, none extra), each a 32-byte hash, and every
       leaf (level 0) is the leaf hash of its entry's salt and bytes;
    4. the checkpoint's size is the new size.

    The track's existence, size and origin are checked by the adapter, under
    its lock or inside its transaction.

    Args:
        batch: The batch to write.
        expected_size: The track size the batch was built on.

    Returns:
        The validated rows.

    Raises:
        ProgrammingError: the batch breaks one of the rules above.
    """
    _check_expected_size(expected_size)
    if not batch.entries:
        raise ProgrammingError(f"append to {batch.track!r}: the batch has no entries")
    rows = _entry_rows(batch, expected_size)
    nodes = _node_rows(batch, rows, expected_size)
    new_size = expected_size + len(rows)
    if batch.checkpoint.checkpoint.size != new_size:
        raise ProgrammingError(
            f"append to {batch.track!r}: checkpoint size {batch.checkpoint.checkpoint.size} "
            f"is not the new size {new_size}"
        )
    return PreparedBatch(batch.track, expected_size, new_size, rows, nodes, batch.checkpoint)


def size_conflict(track: str, expected_size: int, actual: int) -> ConflictError:
    """The error for an append built on a stale size (optimistic concurrency)."""
    return ConflictError(
        f"append to {track!r}: expected size {expected_size}, but the track has {actual} "
        "(another writer appended first; reload and retry)",
        expected=expected_size,
        actual=actual,
    )


def check_origin(track: str, origin: str, checkpoint: SignedCheckpoint) -> None:
    """Refuse a checkpoint that names another origin than its track's.

    Raises:
        ProgrammingError: the origins differ.
    """
    if checkpoint.checkpoint.origin != origin:
        raise ProgrammingError(
            f"append to {track!r}: checkpoint origin {checkpoint.checkpoint.origin!r} "
            f"is not the track's origin {origin!r}"
        )


def check_read_range(start: int, stop: int | None) -> None:
    """Refuse a bad :meth:`EventStore.read` range.

    Raises:
        ValueError: a negative start or ``stop < start``.
    """
    if start < 0:
        raise ValueError(f"read: start must be >= 0, got {start}")
    if stop is not None and stop < start:
        raise ValueError(f"read: stop ({stop}) must be >= start ({start})")


def parse_note(track: str, size: int, note: str) -> SignedCheckpoint:
    """Parse a stored note; a bad one names index ``size - 1`` as ``LogVerifier`` does."""
    index = max(size - 1, 0)
    try:
        checkpoint = SignedCheckpoint.from_text(note)
    except EncodingError as e:
        raise VerificationError(
            f"track {track!r}: stored checkpoint of size {size} is malformed: {e}", index=index
        ) from e
    if checkpoint.checkpoint.size != size:
        raise VerificationError(
            f"track {track!r}: checkpoint stored at size {size} says size {checkpoint.checkpoint.size}",
            index=index,
        )
    return checkpoint
