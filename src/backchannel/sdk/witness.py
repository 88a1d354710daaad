"""A witness: cosigns each new checkpoint of a track once it is proven consistent with the last (ADR-0019).

A witness is a member of a witness party of the track (a guarantor state, for
instance). It sees no events, only checkpoints and leaf hashes, and keeps one
promise: *it never cosigns two checkpoints of one log that cannot both be
true*. :meth:`Witness.cosign_latest` does, for one track:

1. fetch the latest checkpoint and verify the log's signature with the pinned
   log key (given, or recorded in the state on first use);
2. compare it with the last checkpoint this witness cosigned (its state):

   - the same size and root: nothing new; the cosignature already made is
     submitted again (harmless, and it repairs a crash between steps 4 and 5);
   - the same size, another root: a **split view**;
   - larger: fetch the RFC 9162 consistency proof from the last size and
     verify it; if it does not verify, a **split view**;
   - smaller: prove it is a prefix of the last one (else a split view) and
     cosign nothing: a cosignature says "the *largest* consistent checkpoint I
     have seen";

3. cosign it (C2SP ``cosignature/v1``, :mod:`backchannel.log.cosignature`),
   named by this member's id and signed with its Ed25519 key, timestamped by
   the witness's clock;
4. save it as the new last cosigned checkpoint, atomically (write, fsync,
   rename, fsync the directory), *before* the cosignature leaves the process;
5. submit it (``POST /v1/tracks/{track}/checkpoints/{size}/cosignatures``).

On a split view nothing is cosigned or saved: :class:`SplitViewError` is
raised with both signed notes as evidence (the one cosigned before and the
one that contradicts it), after writing them to
``<state>/<track>.split-view.<n>.txt`` and reporting them to the service
(``POST .../split-views``, best effort), so every member's console shows the alarm.
Both notes carry the log's signature,
so anyone holding the log key can check the evidence.

State: one file per track, ``<state>/<track>.json``::

    {
        "format": "backchannel-witness/1",
        "track": "...",
        "log_key": "<vkey>",
        "checkpoint": "<the last cosigned note: the log's line and this witness's line>",
    }

This module does not verify events (a witness never sees them) and does not
decide whom clients trust (:class:`~backchannel.log.cosignature.WitnessPolicy`).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from backchannel.clock import Clock, SystemClock
from backchannel.errors import BackchannelError, ConfigurationError, EncodingError, VerificationError
from backchannel.log.checkpoint import NoteVerifier, SignedCheckpoint
from backchannel.log.cosignature import CosignatureSigner
from backchannel.log.merkle import verify_consistency
from backchannel.sdk.client import BackchannelClient
from backchannel.sdk.session import ForkDetectedError

__all__ = ["STATE_FORMAT", "SplitViewError", "Witness", "WitnessResult", "WitnessState"]

STATE_FORMAT = "backchannel-witness/1"
"""The ``format`` field of a witness state file."""


class SplitViewError(ForkDetectedError):
    """A witness saw two signed checkpoints of one log that cannot both be true.

    Attributes:
        track: The track.
        old_note: The checkpoint the witness cosigned before (signed note text).
        new_note: The checkpoint that contradicts it.
        evidence: The file both notes were written to, if any.
    """

    def __init__(
        self, message: str, *, track: str, old_note: str, new_note: str, evidence: Path | None
    ) -> None:
        """Create the error carrying both notes."""
        where = f"\nevidence saved to {evidence}" if evidence is not None else ""
        super().__init__(message + where, old_note=old_note, new_note=new_note)
        self.track = track
        self.evidence = evidence


@dataclass(frozen=True, slots=True)
class WitnessResult:
    """What one :meth:`Witness.cosign_latest` did.

    Attributes:
        track: The track.
        status: ``cosigned`` (a new checkpoint), ``unchanged`` (the same one
            again; its cosignature was resubmitted) or ``stale`` (the service
            showed an older, consistent checkpoint; nothing cosigned).
        size: The size of the checkpoint the service showed.
        previous_size: The size of the last checkpoint cosigned before (``None`` the first time).
        note: The last checkpoint this witness cosigned, with its cosignature.
        stored: Whether the service stored the cosignature as new (``False``
            when it already held it, or for ``stale``).
    """

    track: str
    status: str
    size: int
    previous_size: int | None
    note: SignedCheckpoint
    stored: bool


class WitnessState:
    """The last checkpoint cosigned per track, one JSON file each, written atomically.

    Args:
        directory: Where the files live (created with mode 0700 on first save).
    """

    def __init__(self, directory: Path) -> None:
        """Use ``directory``."""
        self.directory = directory

    def path(self, track: str) -> Path:
        """The state file of ``track``."""
        return self.directory / f"{track}.json"

    def load(self, track: str) -> tuple[str, SignedCheckpoint] | None:
        """The log key and last cosigned note of ``track``, or ``None`` if it never cosigned one.

        Raises:
            ConfigurationError: the file cannot be read, or is not a witness state of this track.
        """
        path = self.path(track)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as e:
            raise ConfigurationError(f"cannot read witness state {path}: {e.strerror}") from e
        try:
            data = json.loads(raw)
            if not isinstance(data, dict) or set(data) != {"format", "track", "log_key", "checkpoint"}:
                raise EncodingError("expected exactly the fields format, track, log_key and checkpoint")
            if data["format"] != STATE_FORMAT or data["track"] != track:
                raise EncodingError(f"not a {STATE_FORMAT} state of track {track!r}")
            log_key, note = data["log_key"], data["checkpoint"]
            if not isinstance(log_key, str) or not isinstance(note, str):
                raise EncodingError("log_key and checkpoint must be text")
            return log_key, SignedCheckpoint.from_text(note)
        except (ValueError, EncodingError) as e:
            raise ConfigurationError(f"witness state {path} is damaged: {e}") from e

    def save(self, track: str, log_key: str, note: SignedCheckpoint) -> None:
        """Replace ``track``'s state, atomically and durably.

        Raises:
            ConfigurationError: the directory or file cannot be written.
        """
        document = {"format": STATE_FORMAT, "track": track, "log_key": log_key, "checkpoint": note.to_text()}
        self._write(self.path(track), json.dumps(document, indent=2).encode("utf-8") + b"\n")

    def record_split_view(self, track: str, old: str, new: str) -> Path:
        """Write both notes of a split view to a new ``<track>.split-view.<n>.txt``; return its path.

        Raises:
            ConfigurationError: the file cannot be written.
        """
        self._directory()
        number = 1
        while (path := self.directory / f"{track}.split-view.{number}.txt").exists():
            number += 1
        text = (
            f"split view of track {track}: two signed checkpoints that cannot both be true\n"
            f"--- cosigned earlier ---\n{old}--- shown later ---\n{new}"
        )
        self._write(path, text.encode("utf-8"))
        return path

    def _directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigurationError(
                f"cannot create the witness state directory {self.directory}: {e}"
            ) from e

    def _write(self, path: Path, data: bytes) -> None:
        self._directory()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            tmp.replace(path)
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)  # the rename itself is durable
            finally:
                os.close(directory)
        except OSError as e:
            raise ConfigurationError(f"cannot write witness state {path}: {e.strerror}") from e
        finally:
            tmp.unlink(missing_ok=True)


class Witness:
    """Cosigns a service's checkpoints as one witness member (see the module docstring).

    Args:
        client: The witness member's client (its keys sign requests and cosignatures;
            the cosigner name is its member id).
        state_dir: Where the last cosigned checkpoint of each track is kept.
        log_key: The log's vkey to pin; by default the one recorded in the
            state, or (first use) the one ``GET /v1/service`` names.
        clock: The clock of cosignature timestamps (default: the system clock).

    Raises:
        ConfigurationError: ``log_key`` is not a valid vkey.
    """

    def __init__(
        self,
        client: BackchannelClient,
        state_dir: Path,
        *,
        log_key: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Create the witness."""
        self.client = client
        self.state = WitnessState(state_dir)
        self.signer = CosignatureSigner(client.member, client.keys.signing)
        self._clock: Clock = clock or SystemClock()
        try:
            self._log_key = None if log_key is None else NoteVerifier.from_vkey(log_key)
        except EncodingError as e:
            raise ConfigurationError(f"witness: the pinned log key is not a vkey: {e}") from e

    @property
    def vkey(self) -> str:
        """This witness's C2SP cosigner vkey (what clients pin in ``witnesses``)."""
        return self.signer.verifier.to_vkey()

    def _log_verifier(self, saved: tuple[str, SignedCheckpoint] | None) -> NoteVerifier:
        if saved is not None:
            recorded = NoteVerifier.from_vkey(saved[0])
            if self._log_key is not None and self._log_key != recorded:
                raise ConfigurationError(
                    f"witness: the pinned log key {self._log_key.to_vkey()} is not the one this state "
                    f"recorded ({saved[0]})"
                )
            return recorded
        if self._log_key is None:
            self._log_key = NoteVerifier.from_vkey(self.client.service_info()["log_key"])
        return self._log_key

    def cosign_latest(self, track: str) -> WitnessResult:
        """Check the track's latest checkpoint against the last one cosigned; cosign and submit it.

        Raises:
            SplitViewError: it cannot be true together with the last cosigned
                checkpoint (both notes attached and saved as evidence).
            VerificationError: it is not signed by the log key, or names another log.
            ConfigurationError: the state cannot be read or written, or another log key is pinned.
            ProblemError: the service refused a request.
        """
        saved = self.state.load(track)
        verifier = self._log_verifier(saved)
        shown = self.client.log.fetch_checkpoint(track)
        checkpoint = verifier.verify(shown)
        if saved is None:
            return self._cosign(track, verifier, shown, None)
        last = saved[1]
        if checkpoint.origin != last.checkpoint.origin:
            raise VerificationError(
                f"track {track!r}: the checkpoint names log {checkpoint.origin!r}, "
                f"not {last.checkpoint.origin!r} as before"
            )
        old, new = last.checkpoint, checkpoint
        if new.size == old.size:
            if new.root != old.root:
                raise self._split_view(
                    track, last, shown, f"two checkpoints of size {new.size} with different roots"
                )
            line = self._own_line(last)
            if line is None:  # cosigned with a key since rotated: cosign again with the current one
                return self._cosign(track, verifier, shown, old.size)
            answer = self.client.log.add_cosignature(track, old.size, line)
            return WitnessResult(track, "unchanged", new.size, old.size, last, stored=bool(answer["created"]))
        small, large = (new, old) if new.size < old.size else (old, new)
        if small.size > 0:
            try:
                proof = self.client.log.consistency_proof(track, small.size, large.size)
                verify_consistency(small.size, large.size, small.root, large.root, proof)
            except VerificationError as e:
                raise self._split_view(
                    track,
                    last,
                    shown,
                    f"checkpoints of sizes {old.size} and {new.size} are not consistent ({e})",
                ) from e
        if new.size < old.size:
            return WitnessResult(track, "stale", new.size, old.size, last, stored=False)
        return self._cosign(track, verifier, shown, old.size)

    def _cosign(
        self, track: str, verifier: NoteVerifier, shown: SignedCheckpoint, previous: int | None
    ) -> WitnessResult:
        checkpoint = shown.checkpoint
        timestamp = int(self._clock.now().timestamp())
        cosignature = self.signer.cosign(checkpoint, timestamp)
        own = [s for s in shown.signatures if verifier.is_valid_for(checkpoint.to_bytes(), s)]
        note = SignedCheckpoint(checkpoint, (*own, cosignature.to_note_signature()))
        self.state.save(track, verifier.to_vkey(), note)  # recorded before it leaves the process
        answer = self.client.log.add_cosignature(track, checkpoint.size, cosignature.to_line())
        return WitnessResult(
            track, "cosigned", checkpoint.size, previous, note, stored=bool(answer["created"])
        )

    def _own_line(self, note: SignedCheckpoint) -> str | None:
        verifier = self.signer.verifier
        return next((s.to_line() for s in note.signatures if verifier.matches(s)), None)

    def _split_view(
        self, track: str, last: SignedCheckpoint, shown: SignedCheckpoint, what: str
    ) -> SplitViewError:
        old, new = last.to_text(), shown.to_text()
        evidence = self.state.record_split_view(track, old, new)
        # Tell the service too, so every member's console shows the alarm. Best effort: the
        # service is the party whose key signed the fork; the evidence file is what counts.
        with contextlib.suppress(BackchannelError, httpx.TransportError):
            self.client.log.report_split_view(track, old, new)
        return SplitViewError(
            f"split view on track {track!r}: {what}; {self.client.member} refuses to cosign",
            track=track,
            old_note=old,
            new_note=new,
            evidence=evidence,
        )

    def run(
        self,
        tracks: Iterable[str],
        *,
        interval: float,
        rounds: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[WitnessResult | BackchannelError | httpx.TransportError]:
        """Cosign every track's latest checkpoint every ``interval`` seconds (``rounds`` times, or forever).

        Yields each result. Errors are yielded, not raised, so the other tracks
        are still witnessed: a refused request or an unreachable service is
        tried again next round; after a :class:`SplitViewError` that track is
        not cosigned again until an operator has looked at the evidence (a
        witness that saw a fork stops vouching for that log).

        Raises:
            ConfigurationError: the state cannot be read or written, or another log key is pinned.
        """
        names = list(tracks)
        refused: set[str] = set()
        done = 0
        while rounds is None or done < rounds:
            for track in names:
                if track in refused:
                    continue
                try:
                    outcome: WitnessResult | BackchannelError | httpx.TransportError = self.cosign_latest(
                        track
                    )
                except ConfigurationError:
                    raise
                except SplitViewError as e:
                    refused.add(track)
                    outcome = e
                except (BackchannelError, httpx.TransportError) as e:
                    outcome = e
                yield outcome
            done += 1
            if rounds is None or done < rounds:
                sleep(interval)
