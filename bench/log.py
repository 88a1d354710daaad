"""Benchmark the signed log against pymerkle 7.0.0, side by side in one run.

Run with ``.venv-bench/bin/python bench/log.py [--quick]`` (``make bench`` builds
``.venv-bench``). Figures go to stdout as plain text, progress to stderr.

Sections:

1. Ed25519 signatures and verifications per second, one core.
2. Merkle tree appends per second: ``MemoryTree.append`` vs pymerkle's ``append_entry``.
3. Inclusion proofs generated and verified per second on the trees of (2).
4. Durable SQLite appends (WAL, ``synchronous=FULL``), end to end and store only.
5. Full offline verification of an exported log, in a fresh subprocess, with
   ``jobs=1`` and ``jobs=2``.
6. A summary table with targets (``docs/benchmarks.md``).

Absolute times on a shared machine are noise: compare the ratios, which are
measured in the same run on the same data. pymerkle is GPL-3.0 and only ever
imported here, lazily (``docs/adr/0007-benchmark-peers.md``).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.metadata
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, TypeVar

from _report import Report, Row, Target, count, figure, heading, note, print_context, print_summary, progress
from backchannel.log import merkle
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey, VerifyingKey, b64encode
from backchannel.log.tree import MemoryTree
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.export import EXPORT_FORMAT, export_track, verify_export
from backchannel.service.log import Draft, LogWriter
from backchannel.store.base import AppendBatch
from backchannel.store.memory import MemoryEventStore
from backchannel.store.sqlite import SQLiteEventStore

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / ".bench-tmp"
# Bump when the cached log's content or layout changes; the package version,
# the export format and the size are part of the key as well.
CACHE_VERSION = "bench-log-1"
SEED = 20261123
TRACK = "bench-track"
LOG_NAME = "bench.backchannel.example"
AUTHOR = "bench/alice"
MESSAGE_SIZE = 300
ENTRY_SIZE = 32  # a leaf's data is a 32-byte salted commitment (ADR-0003)
FILLER = "lorem ipsum dolor sit amet " * 6  # with the other fields: ~200-byte canonical bodies
MIB = 1024 * 1024
KIB = 1024

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Scale:
    """How much work each section does."""

    name: str
    ed25519_ops: int
    ed25519_repeat: int
    leaves: int
    peer_leaves: int
    proofs: int
    peer_proofs: int
    sqlite_events: dict[int, int]  # batch size -> events appended
    log_events: int
    log_batch: int
    jobs: tuple[int, ...] = (1, 2)


FULL = Scale(
    name="full",
    ed25519_ops=20_000,
    ed25519_repeat=5,
    leaves=1_000_000,
    peer_leaves=1_000_000,
    proofs=200_000,
    peer_proofs=20_000,
    sqlite_events={1: 1_000, 100: 50_000, 1000: 100_000},
    log_events=1_000_000,
    log_batch=1000,
)
QUICK = Scale(
    name="quick",
    ed25519_ops=2_000,
    ed25519_repeat=3,
    leaves=50_000,
    peer_leaves=50_000,
    proofs=20_000,
    peer_proofs=5_000,
    sqlite_events={1: 100, 100: 2_000, 1000: 5_000},
    log_events=20_000,
    log_batch=1000,
)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def times(ours: float, peer: float) -> str:
    """Format ours / peer as a factor."""
    return f"{ours / peer:.2f}x"


def compared(metric: str, ours: float, peer: float, target: Target) -> Row:
    """A summary row with a pymerkle figure: the ratio is ours / peer."""
    return Row(metric, count(ours), count(peer), times(ours, peer), target, ours)


def mib(kib: float) -> str:
    """Format KiB (``ru_maxrss`` on Linux) as MiB."""
    return f"{kib / KIB:.1f}"


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------


def elapsed(run: Callable[[], object]) -> float:
    """Seconds one call of ``run`` takes."""
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def median_rate(run: Callable[[], object], ops: int, repeat: int) -> float:
    """Operations per second: ``ops`` over the median time of ``repeat`` calls of ``run``."""
    return ops / statistics.median(elapsed(run) for _ in range(repeat))


# --------------------------------------------------------------------------
# 1. Ed25519
# --------------------------------------------------------------------------


def sign_all(key: SigningKey, messages: Sequence[bytes]) -> None:
    """Sign every message."""
    sign = key.sign
    for message in messages:
        sign(message)


def verify_all(key: VerifyingKey, messages: Sequence[bytes], signatures: Sequence[bytes]) -> None:
    """Verify every signature (raises on the first bad one)."""
    verify = key.verify
    for signature, message in zip(signatures, messages, strict=True):
        verify(signature, message)


def bench_ed25519(scale: Scale, report: Report) -> float:
    """Section 1; returns the verify rate (the reference for section 5)."""
    heading(
        f"[1] Ed25519 on one core: pyca/cryptography {importlib.metadata.version('cryptography')} "
        f"via backchannel.log.signing, {MESSAGE_SIZE}-byte messages"
    )
    progress("Ed25519 sign/verify")
    rng = random.Random(SEED)
    distinct = [rng.randbytes(MESSAGE_SIZE) for _ in range(1000)]
    messages = [distinct[i % len(distinct)] for i in range(scale.ed25519_ops)]
    key = SigningKey.from_seed(hashlib.sha256(b"bench ed25519").digest())
    signatures = [key.sign(message) for message in messages]
    ops, repeat = scale.ed25519_ops, scale.ed25519_repeat
    sign_rate = median_rate(lambda: sign_all(key, messages), ops, repeat)
    verify_rate = median_rate(lambda: verify_all(key.verifying_key, messages, signatures), ops, repeat)
    note(f"{ops:,} operations per run, median of {repeat} runs")
    figure("signatures / s", count(sign_rate))
    figure("verifications / s", count(verify_rate))
    report.add(Row("Ed25519 sign / s (1 core)", count(sign_rate)))
    report.add(Row("Ed25519 verify / s (1 core)", count(verify_rate)))
    return verify_rate


# --------------------------------------------------------------------------
# 2. Tree appends and 3. inclusion proofs
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TreeFigures:
    """One side's figures for sections 2 and 3 (rates per second)."""

    leaves: int
    appends: float
    proofs: int
    generated: float
    verified: float
    appends_hashing: float = 0.0  # ours only: merkle.leaf_hash + append


def entries(n: int) -> list[bytes]:
    """``n`` distinct 32-byte leaf data (what a log leaf commits to)."""
    return [hashlib.sha256(i.to_bytes(8, "big")).digest() for i in range(n)]


def random_indices(n: int, size: int) -> list[int]:
    """``n`` leaf indices drawn with the fixed seed."""
    rng = random.Random(SEED)
    return [rng.randrange(size) for _ in range(n)]


def timed(run: Callable[[], T]) -> tuple[T, float]:
    """Call ``run`` once; return its result and the seconds it took."""
    start = time.perf_counter()
    result = run()
    return result, time.perf_counter() - start


def build_ours(leaves: Sequence[bytes]) -> MemoryTree:
    """Append precomputed leaf hashes one by one."""
    tree = MemoryTree()
    append = tree.append
    for leaf in leaves:
        append(leaf)
    return tree


def build_ours_hashing(data: Sequence[bytes]) -> MemoryTree:
    """Hash each entry (``merkle.leaf_hash``) and append it: what pymerkle's append does."""
    tree = MemoryTree()
    append = tree.append
    leaf_hash = merkle.leaf_hash
    for item in data:
        append(leaf_hash(item))
    return tree


def ours_proof_rates(
    tree: MemoryTree, leaves: Sequence[bytes], indices: Sequence[int]
) -> tuple[float, float]:
    """Proofs generated and verified per second."""
    size = tree.size
    prove = tree.inclusion_proof
    proofs, seconds = timed(lambda: [prove(i) for i in indices])
    root = tree.root()
    cases = [(leaves[i], i, proof) for i, proof in zip(indices, proofs, strict=True)]

    def verify() -> None:
        check = merkle.verify_inclusion
        for leaf, index, proof in cases:
            check(leaf, index, size, proof, root)

    return len(indices) / seconds, len(indices) / elapsed(verify)


def measure_ours(
    scale: Scale, data: Sequence[bytes], leaves: Sequence[bytes]
) -> tuple[TreeFigures, MemoryTree]:
    """Sections 2 and 3 for ours; returns the figures and the tree."""
    n = scale.leaves
    progress(f"ours: {n:,} appends of precomputed leaf hashes")
    tree, seconds = timed(lambda: build_ours(leaves[:n]))
    progress(f"ours: {n:,} leaf_hash + append")
    hashing = n / elapsed(lambda: build_ours_hashing(data[:n]))
    progress(f"ours: {scale.proofs:,} proofs on {n:,} leaves")
    generated, verified = ours_proof_rates(tree, leaves, random_indices(scale.proofs, n))
    return TreeFigures(n, n / seconds, scale.proofs, generated, verified, hashing), tree


def build_peer(data: Sequence[bytes]) -> Any:
    """pymerkle: ``append_entry`` hashes the entry (0x00 prefix) and appends it."""
    from pymerkle import InmemoryTree

    tree = InmemoryTree(algorithm="sha256")
    append = tree.append_entry
    for item in data:
        append(item)
    return tree


def peer_proof_rates(
    tree: Any, leaves: Sequence[bytes], indices: Sequence[int]
) -> tuple[float, float, list[Any]]:
    """pymerkle's proofs (1-based indices) generated and verified per second, and the proofs."""
    from pymerkle import verify_inclusion

    size = tree.get_size()
    prove = tree.prove_inclusion
    proofs, seconds = timed(lambda: [prove(i + 1) for i in indices])
    root = tree.get_root()
    cases = [(leaves[i], i + 1, proof) for i, proof in zip(indices, proofs, strict=True)]

    def verify() -> None:
        for leaf, index, proof in cases:
            verify_inclusion(leaf, root, proof, index=index, size=size)

    return len(indices) / seconds, len(indices) / elapsed(verify), proofs


@dataclass(frozen=True, slots=True)
class Agreement:
    """Whether both trees hold the same RFC 9162 tree (else the comparison is void)."""

    roots: bool
    paths: bool


def agreement(
    ours: MemoryTree, peer: Any, leaves: Sequence[bytes], sample: Sequence[tuple[int, Any]]
) -> Agreement:
    """Compare the roots, and pymerkle's paths (after its leading leaf hash) with ours, byte for byte."""
    size = peer.get_size()
    paths = all(
        proof.path[0] == leaves[i] and proof.path[1:] == ours.inclusion_proof(i, size) for i, proof in sample
    )
    return Agreement(ours.root(size) == peer.get_root(), paths)


def measure_peer(
    scale: Scale, data: Sequence[bytes], leaves: Sequence[bytes], ours: MemoryTree
) -> tuple[TreeFigures, Agreement]:
    """Sections 2 and 3 for pymerkle, and its agreement with our tree."""
    n = scale.peer_leaves
    progress(f"pymerkle: {n:,} append_entry")
    tree, seconds = timed(lambda: build_peer(data[:n]))
    progress(f"pymerkle: {scale.peer_proofs:,} proofs on {n:,} leaves")
    indices = random_indices(scale.peer_proofs, n)
    generated, verified, proofs = peer_proof_rates(tree, leaves, indices)
    agreed = agreement(ours, tree, leaves, list(zip(indices, proofs, strict=True))[:1000])
    return TreeFigures(n, n / seconds, scale.peer_proofs, generated, verified), agreed


def print_appends(ours: TreeFigures, peer: TreeFigures, agreed: Agreement, report: Report) -> None:
    """Section 2's figures."""
    import pymerkle

    heading(f"[2] Merkle tree appends, in memory, {ENTRY_SIZE}-byte entries, one run each")
    note(
        f"peer: pymerkle {pymerkle.__version__} InmemoryTree(algorithm='sha256'), defaults: "
        "disable_security=False (RFC 6962 0x00 leaf / 0x01 node prefixes), optimizations and "
        "subroot cache on"
    )
    note("ours is measured first, before pymerkle's tree (millions of objects the GC walks) exists")
    figure("ours: leaves appended", count(ours.leaves))
    figure("pymerkle: leaves appended", count(peer.leaves))
    figure("ours: MemoryTree.append(leaf hash) / s", count(ours.appends))
    figure("ours: MemoryTree.append(merkle.leaf_hash(entry)) / s", count(ours.appends_hashing))
    figure("pymerkle: append_entry(entry) / s (hashes the entry)", count(peer.appends))
    figure("ratio ours (precomputed) / pymerkle", times(ours.appends, peer.appends))
    figure("ratio ours (leaf_hash + append) / pymerkle", times(ours.appends_hashing, peer.appends))
    figure(f"roots identical at {peer.leaves:,} leaves", "yes" if agreed.roots else "NO")
    target = Target(">=", 200_000, ">= 200,000")
    report.add(compared("tree appends / s (precomputed leaf)", ours.appends, peer.appends, target))
    report.add(compared("tree appends / s (leaf_hash + append)", ours.appends_hashing, peer.appends, target))


def print_proofs(ours: TreeFigures, peer: TreeFigures, agreed: Agreement, report: Report) -> None:
    """Section 3's figures."""
    heading(f"[3] Inclusion proofs, random leaves (seed {SEED}), one run each")
    figure("ours: tree size (leaves)", count(ours.leaves))
    figure("pymerkle: tree size (leaves)", count(peer.leaves))
    figure("ours: proofs per run", count(ours.proofs))
    figure("pymerkle: proofs per run", count(peer.proofs))
    figure("ours: MemoryTree.inclusion_proof / s", count(ours.generated))
    figure("pymerkle: prove_inclusion / s", count(peer.generated))
    figure("ratio generated ours / pymerkle", times(ours.generated, peer.generated))
    figure("ours: merkle.verify_inclusion / s", count(ours.verified))
    figure("pymerkle: verify_inclusion(index=, size=) / s", count(peer.verified))
    figure("ratio verified ours / pymerkle", times(ours.verified, peer.verified))
    figure("first 1,000 pymerkle paths identical to ours", "yes" if agreed.paths else "NO")
    target = Target(">=", 100_000, ">= 100,000")
    report.add(compared("inclusion proofs generated / s", ours.generated, peer.generated, target))
    report.add(compared("inclusion proofs verified / s", ours.verified, peer.verified, target))


def bench_trees(scale: Scale, report: Report) -> None:
    """Sections 2 and 3: ours first, then pymerkle, on the same entries."""
    data = entries(max(scale.leaves, scale.peer_leaves))
    leaves = [merkle.leaf_hash(item) for item in data]
    ours, tree = measure_ours(scale, data, leaves)
    peer, agreed = measure_peer(scale, data, leaves, tree)
    gc.collect()  # pymerkle's nodes point to their parents: cycles
    print_appends(ours, peer, agreed, report)
    print_proofs(ours, peer, agreed, report)
    if not (agreed.roots and agreed.paths):
        raise SystemExit("ours and pymerkle disagree on the tree: the comparison is void")


# --------------------------------------------------------------------------
# Logs: drafts, writers, scratch space
# --------------------------------------------------------------------------


def author_key() -> SigningKey:
    """The one member key every benchmark event is signed with."""
    return SigningKey.from_seed(hashlib.sha256(b"bench author").digest())


def log_signer() -> NoteSigner:
    """The log's checkpoint signer."""
    return NoteSigner(LOG_NAME, SigningKey.from_seed(hashlib.sha256(b"bench log").digest()))


def draft(seq: int, key: SigningKey) -> Draft:
    """The draft for position ``seq``: the key registration first, then ~200-byte notes."""
    body: dict[str, JSONValue]
    if seq == 0:
        body = {"member": AUTHOR, "ed25519": b64encode(key.verifying_key.public_bytes)}
        return Draft(KEY_REGISTERED, AUTHOR, body, key)
    body = {"n": seq, "note": FILLER[: 160 - len(str(seq))], "ref": f"bench-{seq:010d}"}
    return Draft("note.posted", AUTHOR, body, key)


def drafts(start: int, stop: int, key: SigningKey) -> list[Draft]:
    """The drafts for positions ``start..stop-1``."""
    return [draft(seq, key) for seq in range(start, stop)]


def batch_ranges(total: int, batch: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive batches covering ``total`` events."""
    for start in range(0, total, batch):
        yield start, min(start + batch, total)


def mount_fstype(path: Path) -> str:
    """The file system type of the mount holding ``path`` (from /proc/mounts)."""
    target = str(path.resolve())
    best, fstype = "", "unknown"
    try:
        lines = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return fstype
    for line in lines:
        parts = line.split()
        mount = parts[1]
        inside = target == mount or target.startswith(mount.rstrip("/") + "/")
        if inside and len(mount) > len(best):
            best, fstype = mount, parts[2]
    return fstype


def scratch_root() -> Path:
    """A directory on a real disk for SQLite files: the system temp dir unless it is in RAM."""
    tmp = Path(tempfile.gettempdir())
    if mount_fstype(tmp) in {"tmpfs", "ramfs"}:
        CACHE_DIR.mkdir(exist_ok=True)
        return CACHE_DIR
    return tmp


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh scratch directory, deleted on exit."""
    with tempfile.TemporaryDirectory(prefix="backchannel-bench-", dir=scratch_root()) as name:
        yield Path(name)


class RecordingStore(MemoryEventStore):
    """A memory store that keeps every batch it is given, to replay them elsewhere."""

    def __init__(self) -> None:
        """Create an empty store."""
        super().__init__()
        self.batches: list[tuple[AppendBatch, int]] = []

    def append(self, batch: AppendBatch, expected_size: int) -> None:
        """Record, then append."""
        self.batches.append((batch, expected_size))
        super().append(batch, expected_size)


# --------------------------------------------------------------------------
# 4. Durable SQLite appends
# --------------------------------------------------------------------------


def end_to_end(path: Path, events: int, batch: int) -> float:
    """Events / s through ``LogWriter`` (signing, checkpoint, store) into a fresh SQLite file."""
    key = author_key()
    batches = [drafts(start, stop, key) for start, stop in batch_ranges(events, batch)]
    with SQLiteEventStore(path) as store:
        writer = LogWriter(store, log_signer())
        writer.open_track(TRACK)

        def run() -> None:
            for group in batches:
                writer.append(TRACK, group)

        return events / elapsed(run)


def store_only(path: Path, events: int, batch: int) -> float:
    """Events / s of ``SQLiteEventStore.append`` alone, replaying batches prebuilt in memory."""
    key = author_key()
    recorder = RecordingStore()
    writer = LogWriter(recorder, log_signer())
    info = writer.open_track(TRACK)
    for start, stop in batch_ranges(events, batch):
        writer.append(TRACK, drafts(start, stop, key))
    with SQLiteEventStore(path) as store:
        store.create_track(TRACK, info.origin, info.log_key)

        def run() -> None:
            for prepared, expected in recorder.batches:
                store.append(prepared, expected)

        return events / elapsed(run)


def bench_sqlite(scale: Scale, report: Report) -> None:
    """Section 4."""
    root = scratch_root()
    heading("[4] Durable SQLite appends (WAL, synchronous=FULL), one transaction + checkpoint per batch")
    note(f"scratch files under {root} ({mount_fstype(root)}), a fresh database per figure")
    target = Target(">=", 20_000, ">= 20,000")
    for batch, events in scale.sqlite_events.items():
        with scratch() as folder:
            progress(f"SQLite: {events:,} events in batches of {batch:,}, end to end")
            full = end_to_end(folder / "e2e.db", events, batch)
            progress(f"SQLite: {events:,} events in batches of {batch:,}, store only")
            alone = store_only(folder / "store.db", events, batch)
        figure(f"batches of {batch:,}: events appended", count(events))
        figure(f"batches of {batch:,}: events / s, end to end incl. signing", count(full))
        figure(f"batches of {batch:,}: events / s, store only (pre-built)", count(alone))
        wanted = target if batch == 100 else None
        report.add(
            Row(f"SQLite batch {batch:,}: events / s, end to end", count(full), target=wanted, value=full)
        )
        report.add(
            Row(f"SQLite batch {batch:,}: events / s, store only", count(alone), target=wanted, value=alone)
        )


# --------------------------------------------------------------------------
# 5. Full offline verification
# --------------------------------------------------------------------------


def size_label(events: int) -> str:
    """``1m``, ``20k``... for file names."""
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}m"
    if events % 1000 == 0:
        return f"{events // 1000}k"
    return str(events)


def cache_key(events: int) -> dict[str, object]:
    """What a cached log must match to be reused."""
    return {
        "cache_version": CACHE_VERSION,
        "backchannel": importlib.metadata.version("backchannel"),
        "export_format": EXPORT_FORMAT,
        "events": events,
    }


def cached_log(path: Path, meta: Path, events: int) -> str | None:
    """The log key of a reusable cached export, or ``None``."""
    try:
        stored = json.loads(meta.read_text(encoding="utf-8"))
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    key = cache_key(events)
    if any(stored.get(k) != v for k, v in key.items()) or stored.get("bytes") != size:
        return None
    log_key = stored.get("log_key")
    return log_key if isinstance(log_key, str) else None


def write_log(db: Path, path: Path, events: int, batch: int) -> str:
    """Write ``events`` through ``LogWriter`` into SQLite and export them; return the log key."""
    key = author_key()
    with SQLiteEventStore(db) as store:
        writer = LogWriter(store, log_signer())
        writer.open_track(TRACK)
        for start, stop in batch_ranges(events, batch):
            writer.append(TRACK, drafts(start, stop, key))
            if stop % 100_000 == 0:
                progress(f"log: {stop:,} / {events:,} events written")
        progress(f"log: exporting to {path}")
        export_track(store, TRACK, path)
        return writer.log_key


def prepare_log(scale: Scale) -> tuple[Path, str]:
    """The cached export of ``scale.log_events`` events (built once, then reused)."""
    CACHE_DIR.mkdir(exist_ok=True)
    label = size_label(scale.log_events)
    path, meta = CACHE_DIR / f"log-{label}.jsonl", CACHE_DIR / f"log-{label}.json"
    log_key = cached_log(path, meta, scale.log_events)
    if log_key is not None:
        note(f"reused {path.relative_to(REPO)} ({CACHE_VERSION}, {path.stat().st_size / MIB:,.0f} MiB)")
        return path, log_key
    progress(f"log: building {scale.log_events:,} events (cached for later runs)")
    start = time.perf_counter()
    with scratch() as folder:
        log_key = write_log(folder / "log.db", path, scale.log_events, scale.log_batch)
    seconds = time.perf_counter() - start
    meta.write_text(
        json.dumps({**cache_key(scale.log_events), "log_key": log_key, "bytes": path.stat().st_size}),
        encoding="utf-8",
    )
    note(
        f"built {path.relative_to(REPO)} in {seconds:,.0f} s ({scale.log_events / seconds:,.0f} events/s "
        f"incl. export), {path.stat().st_size / MIB:,.0f} MiB"
    )
    return path, log_key


def vm_hwm_kib(pid: int | str = "self") -> int:
    """The peak resident set (``VmHWM``) of a live process's current image, in KiB; 0 if gone.

    Used instead of ``getrusage(RUSAGE_SELF).ru_maxrss``, which on Linux also
    carries the peak of the process that launched this one (the maximum is
    kept across ``exec``): in a subprocess of this benchmark it reports the
    benchmark's own peak (hundreds of MiB of trees), not the verifier's.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def child_pids(parent: int) -> list[int]:
    """The live child processes of ``parent`` (from /proc)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def child_kind(pid: int) -> str:
    """``worker``, ``resource tracker`` or ``other``, from a multiprocessing child's command line."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "other"
    if b"spawn_main" in command:
        return "worker"
    return "resource tracker" if b"resource_tracker" in command else "other"


class ChildPeaks:
    """Samples the peak RSS (``VmHWM``) of this process's children while it runs.

    The worker processes of ``verify_export(jobs > 1)`` are started and stopped
    inside it; ``VmHWM`` only grows, so the last sample of each is close to its
    peak. ``RUSAGE_CHILDREN`` gives only the largest child, and carries this
    process's own peak at the time each child was started.
    """

    def __init__(self, interval: float = 0.05) -> None:
        """Prepare a sampler (started by ``with``)."""
        self.peaks: dict[int, int] = {}
        self.kinds: dict[int, str] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="child-peaks", daemon=True)

    def __enter__(self) -> Self:
        """Start sampling."""
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self._interval):
            for pid in child_pids(me):
                self.peaks[pid] = max(self.peaks.get(pid, 0), vm_hwm_kib(pid))
                if pid not in self.kinds:
                    self.kinds[pid] = child_kind(pid)

    def described(self) -> list[tuple[str, int]]:
        """``(kind, peak KiB)`` of every child seen, largest first."""
        return sorted(((self.kinds[pid], kib) for pid, kib in self.peaks.items()), key=lambda c: -c[1])


@dataclass(frozen=True, slots=True)
class Verified:
    """What one verification subprocess reported (memory in KiB)."""

    jobs: int
    events: int
    seconds: float
    main_kib: int
    children: list[tuple[str, int]]  # (kind, peak RSS) of each child process
    children_rusage_kib: int

    @property
    def rate(self) -> float:
        """Events verified per second."""
        return self.events / self.seconds

    @property
    def total_kib(self) -> int:
        """Main process plus every child, each at its own peak (an upper bound: shared pages count twice)."""
        return self.main_kib + sum(kib for _, kib in self.children)


def verify_child(path: Path, log_key: str, jobs: int) -> None:
    """Run in the fresh subprocess: verify, then print the measurements as JSON."""
    with ChildPeaks() as peaks:
        start = time.perf_counter()
        verified = verify_export(path, log_key, jobs=jobs)
        seconds = time.perf_counter() - start
    assert verified.pinned
    result = {
        "events": verified.report.size,
        "seconds": seconds,
        "main_kib": vm_hwm_kib(),
        "children": peaks.described(),
        "children_rusage_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    }
    print(json.dumps(result), flush=True)


def run_verification(path: Path, log_key: str, jobs: int) -> Verified:
    """Verify ``path`` in a fresh interpreter so that its peak memory is its own."""
    command = [sys.executable, str(Path(__file__).resolve()), "--verify-child", str(path)]
    command += ["--log-key", log_key, "--jobs", str(jobs)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(done.stdout)
    children = [(kind, kib) for kind, kib in result.pop("children")]
    return Verified(jobs=jobs, children=children, **result)


def report_verification(run: Verified, ed25519_verify: float, report: Report) -> None:
    """Print and record one verification run."""
    ratio = run.rate / ed25519_verify
    prefix = f"jobs={run.jobs}:"
    figure(f"{prefix} events verified", count(run.events))
    figure(f"{prefix} seconds", f"{run.seconds:,.1f}")
    figure(f"{prefix} events / s", count(run.rate))
    figure(f"{prefix} ratio to single-core Ed25519 verify / s", f"{ratio:.2f}")
    figure(f"{prefix} peak RSS main process (MiB)", mib(run.main_kib))
    if run.children:
        for kind, kib in run.children:
            figure(f"{prefix} peak RSS {kind} process (MiB)", mib(kib))
        figure(f"{prefix} largest child, getrusage(RUSAGE_CHILDREN) (MiB)", mib(run.children_rusage_kib))
        figure(f"{prefix} main + children, each at its peak (MiB)", mib(run.total_kib))
    label = f"verify {size_label(run.events)} jobs={run.jobs}"
    report.add(Row(f"{label}: events / s", count(run.rate)))
    report.add(
        Row(
            f"{label}: ratio to Ed25519 verify / s",
            f"{ratio:.2f}",
            ratio=f"{ratio:.2f}",
            target=Target(">=", 0.80, ">= 0.80"),
            value=ratio,
        )
    )
    memory = run.total_kib / KIB
    what = "main" if not run.children else f"main + {len(run.children)} children"
    report.add(
        Row(f"{label}: peak MiB ({what})", f"{memory:.1f}", target=Target("<", 200, "< 200"), value=memory)
    )


def bench_verification(scale: Scale, ed25519_verify: float, report: Report) -> None:
    """Section 5."""
    heading(f"[5] Full offline verification of a {scale.log_events:,}-event export (verify_export)")
    path, log_key = prepare_log(scale)
    note("each run in a fresh subprocess; time covers verify_export only; peak RSS from /proc VmHWM")
    for jobs in scale.jobs:
        progress(f"verify: {scale.log_events:,} events, jobs={jobs}")
        report_verification(run_verification(path, log_key, jobs), ed25519_verify, report)


# --------------------------------------------------------------------------
# 6. Summary
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a scaled-down smoke run (< 1 minute)")
    parser.add_argument("--verify-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--log-key", help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    """Run every section, or the verification child."""
    args = parse_args(argv)
    if args.verify_child is not None:
        verify_child(args.verify_child, args.log_key, args.jobs)
        return
    scale = QUICK if args.quick else FULL
    report = Report()
    print_context("benchmark", scale.name)
    ed25519_verify = bench_ed25519(scale, report)
    bench_trees(scale, report)
    bench_sqlite(scale, report)
    bench_verification(scale, ed25519_verify, report)
    print_summary(report, "[6] Summary (ratio: ours / pymerkle, or events / s over Ed25519 verify / s)")


if __name__ == "__main__":
    main(sys.argv[1:])
