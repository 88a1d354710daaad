"""Export a track's log to a file, and verify an export or a store offline.

An export is JSON Lines (UTF-8), streamed in log order::

    {"format": "backchannel-log/1", "track": ..., "origin": ..., "log_key": ..., "size": N}
    {"seq": 0, "leaf": "<hex>", "salt": "<base64>", "signed": {"event": {...}, "signature": {...}}}
    ...
    {"checkpoint": "<signed note text>"}      (right after the entry that completes its size)

Verification (:func:`verify_export`, :func:`verify_store`) runs the numbered
steps of :mod:`backchannel.log.verify` in constant memory, and for a store
also compares every stored internal node hash with the recomputed one, so a
single changed byte anywhere (event, salt, leaf, node, checkpoint) is caught
and the first bad index is named.

This module does not decide who may read what (a later issue filters exports
per party); it exports a whole track.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TextIO

from backchannel.errors import (
    ConfigurationError,
    EncodingError,
    NotFoundError,
    OperationalError,
    VerificationError,
)
from backchannel.log.canonical import JSONValue, loads_strict
from backchannel.log.checkpoint import NoteVerifier, SignedCheckpoint
from backchannel.log.records import LogEntry, SignedEvent
from backchannel.log.signing import b64decode, b64encode
from backchannel.log.tree import NodeId
from backchannel.log.verify import (
    LogVerifier,
    SignatureCheck,
    VerificationReport,
    check_signatures,
    signature_error,
)
from backchannel.store.base import EventStore, StoredEntry

__all__ = [
    "EXPORT_FORMAT",
    "ExportHeader",
    "VerifiedLog",
    "check_track_on_open",
    "export_entries",
    "export_track",
    "verify_export",
    "verify_store",
]

EXPORT_FORMAT = "backchannel-log/1"
_HEADER_FIELDS = frozenset({"format", "track", "origin", "log_key", "size"})
_ENTRY_FIELDS = frozenset({"seq", "leaf", "salt", "signed"})
_NODE_CHECK_BATCH = 512
_SIGNATURE_BATCH = 2048

Progress = Callable[[int], None]
"""Called with the number of entries processed so far."""


@dataclass(frozen=True, slots=True)
class ExportHeader:
    """The first line of an export."""

    track: str
    origin: str
    log_key: str
    size: int


@dataclass(frozen=True, slots=True)
class VerifiedLog:
    """The outcome of a successful verification.

    Attributes:
        report: What was verified (size, root, checkpoints, members).
        log_key: The log key the checkpoints were verified against.
        pinned: Whether that key was pinned by the caller (otherwise it was
            taken from the export itself, which proves integrity, not origin).
    """

    report: VerificationReport
    log_key: str
    pinned: bool


def _noop(_: int) -> None:
    return None


class _SignatureRunner:
    """Runs deferred signature checks in worker processes, in log order.

    Ed25519 verification holds the GIL, so parallelism needs processes. The
    pool is started lazily (a small log never pays for it) with the ``spawn``
    context (safe whatever threads the caller runs). Results are consumed in
    submission order, so the first failure seen is the lowest failing index.
    """

    def __init__(self, jobs: int) -> None:
        self._jobs = jobs
        self._pool: ProcessPoolExecutor | None = None
        self._inflight: deque[Future[SignatureCheck | None]] = deque()

    def submit(self, checks: list[SignatureCheck]) -> None:
        if not checks:
            return
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self._jobs, mp_context=get_context("spawn"))
        self._inflight.append(self._pool.submit(check_signatures, checks))
        while len(self._inflight) > 2 * self._jobs:
            self._raise(self._result(self._inflight.popleft()))

    def drain(self) -> None:
        while self._inflight:
            self._raise(self._result(self._inflight.popleft()))

    @staticmethod
    def _result(future: Future[SignatureCheck | None]) -> SignatureCheck | None:
        try:
            return future.result()
        except BrokenProcessPool as e:
            raise OperationalError(
                "a signature-checking worker process died; a script that verifies with jobs > 1 "
                "needs an `if __name__ == '__main__':` guard (multiprocessing spawn)"
            ) from e

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    @staticmethod
    def _raise(failed: SignatureCheck | None) -> None:
        if failed is not None:
            raise signature_error(failed)


class _Run:
    """One verification: the pure verifier plus, with ``jobs > 1``, parallel signature checks."""

    def __init__(self, track: str, origin: str, log_key: NoteVerifier, jobs: int) -> None:
        if jobs < 1:
            raise ConfigurationError(f"jobs: expected an integer >= 1, got {jobs}")
        self.verifier = LogVerifier(track, origin, log_key, defer_signatures=jobs > 1)
        self._runner = _SignatureRunner(jobs) if jobs > 1 else None

    def entry(self, entry: LogEntry, leaf: bytes) -> list[tuple[NodeId, bytes]]:
        nodes = self.verifier.add_entry(entry, stored_leaf=leaf)
        if self._runner is not None and self.verifier.pending_signature_checks >= _SIGNATURE_BATCH:
            self._runner.submit(self.verifier.take_signature_checks())
        return nodes

    def settle(self) -> None:
        """Run every outstanding signature check (raises on the first failure)."""
        if self._runner is not None:
            self._runner.submit(self.verifier.take_signature_checks())
            self._runner.drain()

    def finish(self) -> VerificationReport:
        self.settle()
        return self.verifier.finish()

    def first_error(self, error: VerificationError) -> VerificationError:
        """The error to report: a signature failure at an earlier (or the same) index wins."""
        try:
            self.settle()
        except VerificationError as earlier:
            if earlier.index is not None and (error.index is None or earlier.index <= error.index):
                return earlier
        return error

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()


@contextmanager
def _verification(track: str, origin: str, log_key: NoteVerifier, jobs: int) -> Iterator[_Run]:
    run = _Run(track, origin, log_key, jobs)
    try:
        yield run
    except VerificationError as e:
        first = run.first_error(e)
        if first is e:
            raise
        raise first from None
    finally:
        run.close()


def export_track(store: EventStore, track: str, path: Path, progress: Progress = _noop) -> ExportHeader:
    """Write a track's whole log to ``path`` as JSON Lines, streaming in constant memory.

    The file is written to a temporary sibling and renamed into place, so a
    failed export never leaves a truncated file under the final name.

    Raises:
        NotFoundError: unknown track.
        ConfigurationError: the path cannot be written.
    """
    info = store.get_track(track)
    header = ExportHeader(track=info.track, origin=info.origin, log_key=info.log_key, size=info.size)
    tmp = path.with_name(path.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8") as out:
            _write_export(store, header, out, progress)
        tmp.replace(path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write export {path}: {e.strerror or e}") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    progress(info.size)
    return header


def _write_export(store: EventStore, header: ExportHeader, out: TextIO, progress: Progress) -> None:
    out.write(_line({"format": EXPORT_FORMAT, **_header_dict(header)}))
    notes = store.checkpoints(header.track)
    note = next(notes, None)
    size = 0
    for stored in store.read(header.track, 0, header.size):
        while note is not None and note.checkpoint.size <= size:
            out.write(_line({"checkpoint": note.to_text()}))
            note = next(notes, None)
        out.write(_line(_entry_dict(stored)))
        size = stored.seq + 1
        if size % 1000 == 0:
            progress(size)
    while note is not None and note.checkpoint.size <= size:
        out.write(_line({"checkpoint": note.to_text()}))
        note = next(notes, None)


def _header_dict(header: ExportHeader) -> dict[str, JSONValue]:
    return {"track": header.track, "origin": header.origin, "log_key": header.log_key, "size": header.size}


def _entry_dict(stored: StoredEntry) -> dict[str, JSONValue]:
    signed: JSONValue = json.loads(stored.signed_bytes)
    return {
        "seq": stored.seq,
        "leaf": stored.leaf_hash.hex(),
        "salt": b64encode(stored.salt),
        "signed": signed,
    }


def _line(obj: Mapping[str, JSONValue]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"


def _iter_lines(path: Path) -> Iterator[tuple[int, Mapping[str, JSONValue]]]:
    try:
        handle = path.open("rb")
    except FileNotFoundError as e:
        raise NotFoundError(f"no such export file: {path}") from e
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                value = loads_strict(raw)
            except EncodingError as e:
                raise VerificationError(f"line {number}: {e}") from e
            if not isinstance(value, Mapping):
                raise VerificationError(f"line {number}: expected a JSON object")
            yield number, value


def _parse_header(number: int, value: Mapping[str, JSONValue]) -> ExportHeader:
    if value.get("format") != EXPORT_FORMAT:
        raise VerificationError(
            f"line {number}: not a {EXPORT_FORMAT} export (format={value.get('format')!r})"
        )
    if set(value) != _HEADER_FIELDS:
        raise VerificationError(f"line {number}: header fields must be exactly {sorted(_HEADER_FIELDS)}")
    track, origin, log_key, size = value["track"], value["origin"], value["log_key"], value["size"]
    if not (isinstance(track, str) and isinstance(origin, str) and isinstance(log_key, str)):
        raise VerificationError(f"line {number}: header track, origin and log_key must be strings")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise VerificationError(f"line {number}: header size must be an integer >= 0")
    return ExportHeader(track=track, origin=origin, log_key=log_key, size=size)


def _parse_entry(number: int, value: Mapping[str, JSONValue], index: int) -> tuple[LogEntry, bytes]:
    if set(value) != _ENTRY_FIELDS:
        raise VerificationError(
            f"line {number}: entry fields must be exactly {sorted(_ENTRY_FIELDS)}, got {sorted(value)}",
            index=index,
        )
    leaf_text, salt_text = value["leaf"], value["salt"]
    try:
        if not isinstance(leaf_text, str) or len(leaf_text) != 64:
            raise EncodingError("leaf: expected 64 hex digits")
        leaf = bytes.fromhex(leaf_text)
        if not isinstance(salt_text, str):
            raise EncodingError("salt: expected base64 text")
        entry = LogEntry(
            SignedEvent.from_dict(value["signed"]), b64decode(salt_text, field="salt", length=32)
        )
    except (EncodingError, ValueError) as e:
        raise VerificationError(f"line {number}: entry {index}: {e}", index=index) from e
    if value["seq"] != index:
        raise VerificationError(
            f"line {number}: expected entry {index}, found seq {value['seq']!r}", index=index
        )
    return entry, leaf


def _parse_checkpoint(number: int, value: Mapping[str, JSONValue], index: int) -> SignedCheckpoint:
    text = value.get("checkpoint")
    if set(value) != {"checkpoint"} or not isinstance(text, str):
        raise VerificationError(
            f"line {number}: a checkpoint line holds exactly one note string", index=index
        )
    try:
        return SignedCheckpoint.from_text(text)
    except EncodingError as e:
        raise VerificationError(f"line {number}: malformed checkpoint: {e}", index=index) from e


def _pin(header_key: str, pinned: str | None) -> NoteVerifier:
    try:
        verifier = NoteVerifier.from_vkey(pinned or header_key)
    except EncodingError as e:
        raise VerificationError(f"log key: {e}") from e
    if pinned is not None and pinned.strip() != header_key:
        raise VerificationError(f"the export is signed by log key {header_key}, not the pinned key {pinned}")
    return verifier


def verify_export(
    path: Path, log_key: str | None = None, progress: Progress = _noop, *, jobs: int = 1
) -> VerifiedLog:
    """Verify an export file offline: every signature, leaf, root and checkpoint.

    Args:
        path: The export file.
        log_key: The log's verifier key to pin (recommended). Without it the
            key named in the export is used and the result says ``pinned=False``.
        progress: Called with the count of entries verified, every 1,000.
        jobs: Processes for signature checks (1: all in this process).

    Returns:
        The verified log.

    Raises:
        NotFoundError: no such file.
        VerificationError: the first failure, with ``index`` naming the entry.
    """
    lines = _iter_lines(path)
    first = next(lines, None)
    if first is None:
        raise VerificationError("the export file is empty")
    header = _parse_header(*first)
    with _verification(header.track, header.origin, _pin(header.log_key, log_key), jobs) as run:
        verifier = run.verifier
        for number, value in lines:
            index = verifier.size
            if "checkpoint" in value:
                verifier.add_checkpoint(_parse_checkpoint(number, value, index))
                continue
            entry, leaf = _parse_entry(number, value, index)
            run.entry(entry, leaf)
            if index % 1000 == 999:
                progress(index + 1)
        report = run.finish()
    if report.size != header.size:
        raise VerificationError(f"the header promises {header.size} entries, the file holds {report.size}")
    progress(report.size)
    return VerifiedLog(report=report, log_key=header.log_key, pinned=log_key is not None)


def export_entries(path: Path) -> Iterator[LogEntry]:
    """The entries of an export file, in log order (checkpoints skipped; run :func:`verify_export` first).

    Raises:
        VerificationError: a malformed line or entry, naming it.
    """
    lines = _iter_lines(path)
    if next(lines, None) is None:
        raise VerificationError("the export file is empty")
    index = 0
    for number, value in lines:
        if "checkpoint" not in value:
            yield _parse_entry(number, value, index)[0]
            index += 1


def verify_store(
    store: EventStore, track: str, log_key: str | None = None, progress: Progress = _noop, *, jobs: int = 1
) -> VerifiedLog:
    """Verify a track in a store: entries, every stored node hash, every checkpoint.

    Args:
        store: The store.
        track: The track to verify.
        log_key: The log's verifier key to pin; default: the one the store names.
        progress: Called with the count of entries verified, every 1,000.
        jobs: Processes for signature checks (1: all in this process).

    Raises:
        NotFoundError: unknown track.
        VerificationError: the first failure, with ``index`` naming the entry.
    """
    info = store.get_track(track)
    with _verification(track, info.origin, _pin(info.log_key, log_key), jobs) as run:
        verifier = run.verifier
        notes = store.checkpoints(track)
        pending = next(notes, None)
        expected: list[tuple[NodeId, bytes, int]] = []
        for stored in store.read(track, 0, info.size):
            while pending is not None and pending.checkpoint.size <= verifier.size:
                verifier.add_checkpoint(pending)
                pending = next(notes, None)
            nodes = run.entry(stored.decode(), stored.leaf_hash)
            expected.extend((node, digest, stored.seq) for node, digest in nodes)
            if len(expected) >= _NODE_CHECK_BATCH:
                _check_nodes(store, track, expected)
                expected.clear()
            if stored.seq % 1000 == 999:
                progress(stored.seq + 1)
        _check_nodes(store, track, expected)
        while pending is not None:
            verifier.add_checkpoint(pending)
            pending = next(notes, None)
        report = run.finish()
    if report.size != info.size:
        raise VerificationError(
            f"the store says {info.size} entries, {report.size} were read", index=report.size
        )
    progress(report.size)
    return VerifiedLog(report=report, log_key=info.log_key, pinned=log_key is not None)


def _check_nodes(store: EventStore, track: str, expected: list[tuple[NodeId, bytes, int]]) -> None:
    if not expected:
        return
    stored = store.get_nodes(track, [node for node, _, _ in expected])
    for (node, digest, seq), found in zip(expected, stored, strict=True):
        if found != digest:
            level, idx = node
            raise VerificationError(
                f"entry {seq}: stored tree node (level {level}, index {idx}) does not match the entries",
                index=seq,
            )


def check_track_on_open(store: EventStore, track: str) -> None:
    """Cheaply check a track before it is extended; on doubt, find the first bad index.

    The quick check is O(log n): the latest checkpoint verifies under the
    track's log key and covers every entry, the root recomputed from the
    stored tree nodes equals its root, and the last entry's leaf and ``prev``
    match the stored leaves. If any of that fails, the full
    :func:`verify_store` runs to name the first bad index and why.

    Raises:
        VerificationError: the track does not verify; ``index`` names the first bad entry.
    """
    try:
        _quick_check(store, track)
    except VerificationError:
        verify_store(store, track)  # raises with the first bad index
        raise  # pragma: no cover - the full check found nothing the quick one did (never expected)


def _quick_check(store: EventStore, track: str) -> None:
    info = store.get_track(track)
    note = store.latest_checkpoint(track)
    if note is None:
        if info.size:
            raise VerificationError(f"track {track!r} has {info.size} entries and no checkpoint", index=0)
        return
    checkpoint = _pin(info.log_key, None).verify(note)
    last = info.size - 1
    if checkpoint.size != info.size or checkpoint.root != store.root(track, info.size):
        raise VerificationError(
            f"track {track!r}: stored tree does not match the latest checkpoint", index=last
        )
    stored = next(store.read(track, last, info.size))
    entry = stored.decode()
    previous = store.get_nodes(track, [(0, last - 1)])[0] if last else None
    if stored.computed_leaf_hash() != stored.leaf_hash or entry.signed.event.prev != previous:
        raise VerificationError(f"track {track!r}: the last entry does not match its leaf", index=last)
