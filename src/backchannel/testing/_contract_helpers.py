"""The helpers of :mod:`backchannel.testing.contracts`: the test log, its writer, batches and corruptions.

The signer and writer use fixed Ed25519 seeds, a
:class:`~backchannel.testing.clock.FakeClock` and
:class:`~backchannel.testing.salts.UnsafeDeterministicSalts`, so every run
writes the same bytes. ``InterceptingStore`` captures or corrupts the batches
a real writer sends.

This module holds no test: the contract classes do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

import pytest

from backchannel.errors import NotFoundError
from backchannel.log.checkpoint import Checkpoint, NoteSigner, SignedCheckpoint
from backchannel.log.signing import SigningKey
from backchannel.log.tree import NodeId
from backchannel.service.log import Draft, LogWriter
from backchannel.store.base import (
    AppendBatch,
    EventStore,
    StoredAnnex,
    StoredCosignature,
    StoredEntry,
    StoredSplitView,
    TrackInfo,
)
from backchannel.testing.clock import FakeClock
from backchannel.testing.salts import UnsafeDeterministicSalts

__all__ = [
    "BATCHES",
    "CORRUPTIONS",
    "LOG_NAME",
    "InterceptingStore",
    "StoreFactory",
    "capture_batch",
    "drafts",
    "leaves",
    "log_signer",
    "state_of",
    "writer_for",
]

StoreFactory = Callable[[], EventStore]
"""Makes a store object; the first call of a test gets an empty store."""

LOG_NAME = "log.example"
"""The note name of the test log's checkpoint signer."""

_ALICE = SigningKey.from_seed(bytes([1]) * 32)
_BOB = SigningKey.from_seed(bytes([2]) * 32)

# The sizes of the batches that build the ~40-entry log of the proof tests.
BATCHES = (1, 2, 3, 5, 8, 13, 7, 1)


def log_signer() -> NoteSigner:
    """The test log's checkpoint signer (the all-zero Ed25519 seed)."""
    return NoteSigner(LOG_NAME, SigningKey.from_seed(bytes(32)))


def writer_for(store: EventStore, seed: bytes = b"backchannel-test") -> LogWriter:
    clock = FakeClock(autojump=timedelta(milliseconds=1))
    return LogWriter(store, log_signer(), clock=clock, salts=UnsafeDeterministicSalts(seed))


def drafts(count: int, first: int = 0) -> list[Draft]:
    return [
        Draft(
            type="proposal.submitted",
            author="us/alice" if n % 2 == 0 else "iran/bob",
            body={"n": n, "text": f"proposal {n}", "terms": {"cap_pct": n % 90, "relief": "partial"}},
            key=_ALICE if n % 2 == 0 else _BOB,
        )
        for n in range(first, first + count)
    ]


class InterceptingStore(EventStore):
    """Delegates to a real store, letting a test capture appends or run code just before one."""

    def __init__(self, inner: EventStore, *, capture: bool = False) -> None:
        self.inner = inner
        self.capture = capture
        self.captured: list[tuple[AppendBatch, int]] = []
        self.before_append: Callable[[], object] | None = None

    def create_track(self, track: str, origin: str, log_key: str) -> TrackInfo:
        return self.inner.create_track(track, origin, log_key)

    def get_track(self, track: str) -> TrackInfo:
        return self.inner.get_track(track)

    def list_tracks(self) -> list[TrackInfo]:
        return self.inner.list_tracks()

    def append(self, batch: AppendBatch, expected_size: int) -> None:
        hook, self.before_append = self.before_append, None
        if hook is not None:
            hook()
        if self.capture:
            self.captured.append((batch, expected_size))
        else:
            self.inner.append(batch, expected_size)

    def read(self, track: str, start: int = 0, stop: int | None = None) -> Iterator[StoredEntry]:
        return self.inner.read(track, start, stop)

    def get_nodes(self, track: str, ids: Sequence[NodeId]) -> list[bytes]:
        return self.inner.get_nodes(track, ids)

    def checkpoints(self, track: str, start_size: int = 0) -> Iterator[SignedCheckpoint]:
        return self.inner.checkpoints(track, start_size)

    def latest_checkpoint(self, track: str) -> SignedCheckpoint | None:
        return self.inner.latest_checkpoint(track)

    def put_annex(self, track: str, data: bytes, party: str) -> bool:
        return self.inner.put_annex(track, data, party)

    def get_annex(self, track: str, digest: bytes) -> StoredAnnex | None:
        return self.inner.get_annex(track, digest)

    def put_cosignature(self, track: str, cosignature: StoredCosignature) -> bool:
        return self.inner.put_cosignature(track, cosignature)

    def cosignatures(self, track: str, size: int) -> list[StoredCosignature]:
        return self.inner.cosignatures(track, size)

    def latest_cosigned_size(self, track: str, minimum: int = 1) -> int | None:
        return self.inner.latest_cosigned_size(track, minimum)

    def put_split_view(self, track: str, alarm: StoredSplitView) -> bool:
        return self.inner.put_split_view(track, alarm)

    def split_views(self, track: str) -> list[StoredSplitView]:
        return self.inner.split_views(track)

    def close(self) -> None:
        """Leave the inner store open: the test owns it."""


def capture_batch(store: EventStore, track: str, count: int) -> tuple[AppendBatch, int]:
    """Build (but do not write) the batch a LogWriter would append next."""
    spy = InterceptingStore(store, capture=True)
    writer_for(spy, seed=b"captured").append(track, drafts(count, first=100))
    return spy.captured[0]


def state_of(store: EventStore, track: str) -> tuple[object, ...]:
    """Everything observable about a track, to assert that nothing changed."""
    info = store.get_track(track)
    with pytest.raises(NotFoundError):
        store.get_nodes(track, [(0, info.size)])
    return (
        info,
        list(store.read(track)),
        list(store.checkpoints(track)),
        store.latest_checkpoint(track),
        store.frontier(track).hashes,
    )


def leaves(store: EventStore, track: str) -> list[bytes]:
    return [entry.leaf_hash for entry in store.read(track)]


# --- batch corruptions for the validation tests --------------------------
def _resign(batch: AppendBatch, *, size: int | None = None, origin: str | None = None) -> SignedCheckpoint:
    body = batch.checkpoint.checkpoint
    changed = Checkpoint(origin or body.origin, body.size if size is None else size, body.root)
    return log_signer().sign(changed)


_Corruption = Callable[[AppendBatch, int], tuple[AppendBatch, int]]

CORRUPTIONS: dict[str, _Corruption] = {
    "empty": lambda b, n: (dataclasses.replace(b, entries=[], nodes=[]), n),
    "gap": lambda b, n: (dataclasses.replace(b, entries=[b.entries[0], *b.entries[2:]]), n),
    "expected-size-off-by-one": lambda b, n: (b, n + 1),
    "negative-expected-size": lambda b, _: (b, -1),
    "foreign-track": lambda b, n: (dataclasses.replace(b, track="other"), n),
    "checkpoint-size": lambda b, n: (dataclasses.replace(b, checkpoint=_resign(b, size=n + 1)), n),
    "checkpoint-origin": lambda b, n: (dataclasses.replace(b, checkpoint=_resign(b, origin="other/t")), n),
    "missing-node": lambda b, n: (dataclasses.replace(b, nodes=list(b.nodes[:-1])), n),
    "extra-node": lambda b, n: (dataclasses.replace(b, nodes=[*b.nodes, ((0, 99), bytes(32))]), n),
    "duplicate-node": lambda b, n: (dataclasses.replace(b, nodes=[*b.nodes, b.nodes[0]]), n),
    "wrong-leaf-hash": lambda b, n: (dataclasses.replace(b, nodes=[((0, n), bytes(32)), *b.nodes[1:]]), n),
    "short-hash": lambda b, n: (
        dataclasses.replace(b, nodes=[*b.nodes[:-1], (b.nodes[-1][0], bytes(31))]),
        n,
    ),
}
