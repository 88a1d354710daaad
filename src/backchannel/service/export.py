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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from backchannel.errors import EncodingError, NotFoundError, VerificationError
from backchannel.log.canonical import JSONValue, loads_strict
from backchannel.log.checkpoint import NoteVerifier, SignedCheckpoint
from backchannel.log.records import LogEntry, SignedEvent
from backchannel.log.signing import b64decode, b64encode
from backchannel.log.tree import NodeId
from backchannel.log.verify import LogVerifier, VerificationReport
from backchannel.store.base import EventStore, StoredEntry

__all__ = ["EXPORT_FORMAT", "ExportHeader", "VerifiedLog", "export_track", "verify_export", "verify_store"]

EXPORT_FORMAT = "backchannel-log/1"
_HEADER_FIELDS = frozenset({"format", "track", "origin", "log_key", "size"})
_ENTRY_FIELDS = frozenset({"seq", "leaf", "salt", "signed"})
_NODE_CHECK_BATCH = 512

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


def export_track(store: EventStore, track: str, path: Path, progress: Progress = _noop) -> ExportHeader:
    """Write a track's whole log to ``path`` as JSON Lines, streaming.

    The file is written to a temporary sibling and renamed into place, so a
    failed export never leaves a truncated file under the final name.

    Raises:
        NotFoundError: unknown track.
        ConfigurationError: the path cannot be written.
    """
    info = store.get_track(track)
    header = ExportHeader(track=info.track, origin=info.origin, log_key=info.log_key, size=info.size)
    checkpoints = {c.checkpoint.size: c for c in store.checkpoints(track)}
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8") as out:
        out.write(_line({"format": EXPORT_FORMAT, **_header_dict(header)}))
        if 0 in checkpoints:
            out.write(_line({"checkpoint": checkpoints[0].to_text()}))
        for stored in store.read(track, 0, info.size):
            out.write(_line(_entry_dict(stored)))
            note = checkpoints.get(stored.seq + 1)
            if note is not None:
                out.write(_line({"checkpoint": note.to_text()}))
            if stored.seq % 1000 == 999:
                progress(stored.seq + 1)
    tmp.replace(path)
    progress(info.size)
    return header


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


def verify_export(path: Path, log_key: str | None = None, progress: Progress = _noop) -> VerifiedLog:
    """Verify an export file offline: every signature, leaf, root and checkpoint.

    Args:
        path: The export file.
        log_key: The log's verifier key to pin (recommended). Without it the
            key named in the export is used and the result says ``pinned=False``.
        progress: Called with the count of entries verified, every 1,000.

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
    verifier = LogVerifier(header.track, header.origin, _pin(header.log_key, log_key))
    for number, value in lines:
        index = verifier.size
        if "checkpoint" in value:
            verifier.add_checkpoint(_parse_checkpoint(number, value, index))
            continue
        entry, leaf = _parse_entry(number, value, index)
        verifier.add_entry(entry, stored_leaf=leaf)
        if index % 1000 == 999:
            progress(index + 1)
    report = verifier.finish()
    if report.size != header.size:
        raise VerificationError(f"the header promises {header.size} entries, the file holds {report.size}")
    progress(report.size)
    return VerifiedLog(report=report, log_key=header.log_key, pinned=log_key is not None)


def verify_store(
    store: EventStore, track: str, log_key: str | None = None, progress: Progress = _noop
) -> VerifiedLog:
    """Verify a track in a store: entries, every stored node hash, every checkpoint.

    Raises:
        NotFoundError: unknown track.
        VerificationError: the first failure, with ``index`` naming the entry.
    """
    info = store.get_track(track)
    verifier = LogVerifier(track, info.origin, _pin(info.log_key, log_key))
    notes = store.checkpoints(track)
    pending = next(notes, None)
    expected: list[tuple[NodeId, bytes, int]] = []
    for stored in store.read(track, 0, info.size):
        while pending is not None and pending.checkpoint.size <= verifier.size:
            verifier.add_checkpoint(pending)
            pending = next(notes, None)
        nodes = verifier.add_entry(stored.decode(), stored_leaf=stored.leaf_hash)
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
    report = verifier.finish()
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
