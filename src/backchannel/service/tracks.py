"""The track service: load -> verify -> decide -> append (ADR-0011).

:class:`TrackService` is the one place that turns a member's signed command
into log events:

1. **Load.** The track's :class:`~backchannel.domain.state.TrackState` is
   folded from its log once and then kept up to date. Entries another writer
   appended are folded in before every decision.
2. **Verify.** The command's Ed25519 signature is checked against the key the
   domain says the member may use *now* (a revoked or expired key is refused from
   that instant); the genesis ``open_track`` is signed by the principal key it enrols.
3. **Decide.** :func:`backchannel.domain.decide` returns the events, or a
   precise :class:`~backchannel.errors.DomainError` (the NACK the sender sees).
   An idempotent retry returns the first result and appends nothing.
4. **Append.** Each domain event becomes a log event authored and signed by
   the service member (``<mediator>/service``). Its body is
   ``{"command": <signed command>, "event": <domain event>}``, so anyone
   holding it can verify the author's own signature. A command's events are
   one atomic batch under one checkpoint. :meth:`TrackService.execute_many`
   decides many commands in order and appends all their events in one batch
   (group commit: one transaction, one fsync, one checkpoint per track). A
   lost race (``ConflictError``) reloads the state and decides again, this
   time holding the track (:meth:`EventStore.exclusive`; ADR-0061).

:func:`replay` is verify-then-fold for a whole track
(:mod:`backchannel.service.track_replay`, re-exported here). It runs the log
verifier's checks, then re-verifies every embedded command signature with the
key valid at that point. It re-decides every command at its recorded time and
requires exactly the logged events. A log edited by anyone but the service
fails there, and so does one the service wrote against the rules.

**Log indexes.** The service's key registration is the only entry that is not
a track event, and it comes first; every entry after ``track.opened`` is a
track event. So the state is opened with ``log_offset`` = the log index of
``track.opened``, and track event ``n`` is log entry ``n + log_offset``
(:meth:`TrackState.log_index`): what receipts name and deliveries show.
:func:`replay` refuses a key registration after ``track.opened``.

This module neither delivers messages (the broker does) nor speaks HTTP.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from backchannel.clock import Clock, SystemClock
from backchannel.domain import Command, Event, OpenTrack, TrackState, decide, event_from_dict, evolve
from backchannel.domain.ids import service_member
from backchannel.errors import (
    BackchannelError,
    ConflictError,
    DomainError,
    EncodingError,
    NotFoundError,
    VerificationError,
)
from backchannel.log.canonical import JSONValue, canonicalize
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.log.records import LogEntry
from backchannel.log.signing import VerifyingKey
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, to_domain
from backchannel.service.admission import Admission, AdmissionRefusedError
from backchannel.service.integrity import IntegrityReport
from backchannel.service.log import Draft, LogWriter
from backchannel.service.track_replay import log_body, log_entries, replay, replay_entries, verify_signature
from backchannel.service.verification import AheadOfCommit
from backchannel.store.base import EventStore

__all__ = [
    "CommandResult",
    "TrackService",
    "TrackServiceStatistics",
    "TypeCounts",
    "replay",
    "replay_entries",
]

_MAX_RACES = 12
"""Lost append races in a row before a group is refused with ``ConflictError`` (the client may resend)."""
_RACE_BACKOFF = 0.002
"""Seconds: the first pause after a lost race is up to this, doubled per race (with jitter), capped below."""
_RACE_BACKOFF_CAP = 0.1
_CONTENDED_FOR = 5.0
"""Seconds a track that saw a lost race is decided under :meth:`EventStore.exclusive` (ADR-0061)."""
RECENT_BYTES = 6 * 1024 * 1024
"""Canonical bytes of recent entries :meth:`TrackService.entry` serves from memory: the in-flight
window (issue #13; 1,000 messages of 1 KiB are about 2,000 entries of 2.7 KiB), at about twice that in RAM."""


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a command did.

    Attributes:
        events: The domain events it produced (the first result, for a retry).
        first_index: The log index of the first appended event (``None`` for a retry).
        checkpoint: The checkpoint covering the append (``None`` for a retry).
        replayed: ``True`` if this was an idempotent retry that appended nothing.
    """

    events: tuple[Event, ...]
    first_index: int | None
    checkpoint: SignedCheckpoint | None
    replayed: bool


@dataclass(slots=True)
class _Loaded:
    state: TrackState | None
    size: int


@dataclass(frozen=True, slots=True)
class TypeCounts:
    """Commands and events counted by type (:meth:`TrackService.type_counts`; ``/metrics``, ADR-0029).

    Attributes:
        commands: ``(command, outcome)`` -> how many, the outcome being
            ``appended``, ``replayed`` (a retry answered with its first result)
            or ``refused`` (a rule, a signature; a body that did not decode
            has no type and is counted only in the statistics).
        events: Log event type appended -> how many.
    """

    commands: Mapping[tuple[str, str], int]
    events: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class TrackServiceStatistics:
    """A snapshot of a :class:`TrackService` (trio ``statistics()`` style).

    Attributes:
        tracks_loaded: Tracks whose state is held in memory.
        commands_appended: Commands decided and appended so far.
        commands_replayed: Retries answered with the first result.
        commands_refused: Commands refused (a rule, a signature, a malformed body).
        appends: Appends to the store (one per track per group).
        races_lost: Appends that lost a race with another writer and were decided again.
        entries_recent: Entries of recent appends kept for reads.
    """

    tracks_loaded: int
    commands_appended: int
    commands_replayed: int
    commands_refused: int
    appends: int
    races_lost: int
    entries_recent: int


class TrackService:
    """Runs signed commands against tracks kept in one store.

    Args:
        writer: The log writer (its store is where tracks live).
        node: The service's own keys: its signing key authors every log event.
        clock: The decision clock (default: the system clock).
        admission: Which keys may open tracks (ADR-0023; default: every key,
            :meth:`Admission.unsafe_open_to_all`, for embedded use and tests).
    """

    def __init__(
        self,
        writer: LogWriter,
        node: KeyPair,
        *,
        clock: Clock | None = None,
        admission: Admission | None = None,
    ) -> None:
        """Create the service."""
        self._admission = admission or Admission.unsafe_open_to_all()
        self._integrity: IntegrityReport | None = None
        self._writer = writer
        self._node = node
        self._clock: Clock = clock or SystemClock()
        self._tracks: dict[str, _Loaded] = {}
        self._contended: dict[str, float] = {}  # track -> monotonic time until which appends hold it
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, int], LogEntry] = {}
        self._recent_bytes = 0
        self._recent_lock = threading.Lock()
        self._counts = dict.fromkeys(("appended", "replayed", "refused", "appends", "races"), 0)
        self._by_command: Counter[tuple[str, str]] = Counter()  # (command, outcome) -> how many
        self._by_event: Counter[str] = Counter()  # event type appended -> how many
        self.ahead = AheadOfCommit(self._peek, self._clock)
        """Signatures verified before the committer (ADR-0050): its ``verify`` runs on worker threads."""

    def statistics(self) -> TrackServiceStatistics:
        """What the service has done so far, and what it holds now."""
        with self._lock, self._recent_lock:
            return TrackServiceStatistics(
                tracks_loaded=len(self._tracks),
                commands_appended=self._counts["appended"],
                commands_replayed=self._counts["replayed"],
                commands_refused=self._counts["refused"],
                appends=self._counts["appends"],
                races_lost=self._counts["races"],
                entries_recent=len(self._recent),
            )

    def type_counts(self) -> TypeCounts:
        """How many commands of each type were appended, replayed or refused, and events appended by type."""
        with self._lock:
            return TypeCounts(commands=dict(self._by_command), events=dict(self._by_event))

    @property
    def store(self) -> EventStore:
        """The store tracks live in."""
        return self._writer.store

    @property
    def node(self) -> KeyPair:
        """The service node's keys (the delivery service signs its own commands with them)."""
        return self._node

    @property
    def node_key(self) -> VerifyingKey:
        """The public key a track's ``open_track`` must name as its service key."""
        return self._node.signing.verifying_key

    @property
    def node_agreement_key(self) -> bytes:
        """The service node's X25519 public key (named with its signing key in ``open_track``)."""
        return self._node.agreement.public_bytes

    @property
    def log_key(self) -> str:
        """The log's checkpoint verifier key (vkey text) that clients pin."""
        return self._writer.log_key

    @property
    def admission(self) -> Admission:
        """Which keys may open tracks."""
        return self._admission

    def set_aside(self, report: IntegrityReport) -> None:
        """Refuse the tracks ``report`` found damaged (:class:`DamagedTrackError`, issue #8)."""
        self._integrity = report

    @property
    def integrity(self) -> IntegrityReport | None:
        """What the start-up integrity check found (``None``: it has not run on this service)."""
        return self._integrity

    def _check_served(self, track: str) -> None:
        if self._integrity is not None and track in self._integrity.damaged:
            raise self._integrity.error(track)

    def state(self, track: str) -> TrackState | None:
        """The track's current state (``None`` if it was never opened here).

        Raises:
            DamagedTrackError: the track failed the start-up integrity check.
        """
        self._check_served(track)
        with self._lock:
            return self._load(track).state

    def _peek(self, track: str) -> TrackState | None:
        """The latest state held, without waiting for the committer (a dict read; states are immutable)."""
        loaded = self._tracks.get(track)
        return None if loaded is None else loaded.state

    def entry(self, track: str, index: int) -> LogEntry:
        """Log entry ``index`` of ``track``: from memory if appended here recently, else from the store.

        Raises:
            NotFoundError: unknown track, or no entry ``index`` yet.
            DamagedTrackError: the track failed the start-up integrity check.
        """
        self._check_served(track)
        with self._recent_lock:
            found = self._recent.get((track, index))
        if found is not None:
            return found
        for stored in self.store.read(track, index, index + 1):  # clipped to the size
            return stored.decode()
        raise NotFoundError(f"track {track!r} has no entry {index}")

    def _remember(self, track: str, entries: Sequence[LogEntry]) -> None:
        """Keep the newest appended entries for :meth:`entry` (deliveries render them right away)."""
        with self._recent_lock:
            for entry in entries:
                if (track, entry.seq) not in self._recent:
                    self._recent[(track, entry.seq)] = entry
                    self._recent_bytes += len(entry.signed.to_bytes())
            while self._recent_bytes > RECENT_BYTES:
                oldest = self._recent.pop(next(iter(self._recent)))
                self._recent_bytes -= len(oldest.signed.to_bytes())

    def execute(self, signed: SignedCommand) -> CommandResult:
        """Verify, decide and append one signed command.

        Raises:
            EncodingError: the command's body does not decode.
            VerificationError: the signature does not verify under the key the member may use.
            DomainError: the command breaks a rule (its subclass says which).
            ConflictError: other writers won the race too many times in a row.
        """
        outcome = self.execute_many([signed])[0]
        if isinstance(outcome, BackchannelError):
            raise outcome
        return outcome

    def execute_many(self, commands: Sequence[SignedCommand]) -> list[CommandResult | BackchannelError]:
        """Run many signed commands with one append (one transaction, one checkpoint) per track.

        Commands are decided in order, each against the state the ones before it
        leave, exactly as if they had been executed one by one; only the append
        is shared (group commit). A command that fails verification or breaks a
        rule gets its error in its slot and appends nothing; the others go on.

        Returns:
            One outcome per command, in order: its :class:`CommandResult`, or the
            :class:`~backchannel.errors.BackchannelError` that refused it.

        Raises:
            ConflictError: other writers won the race too many times in a row
                (nothing of that track's group was appended).
            OperationalError: the store failed (nothing of that track's group was appended).
        """
        decoded: list[tuple[SignedCommand, Command] | BackchannelError] = []
        for signed in commands:
            try:
                decoded.append((signed, to_domain(signed)))
            except BackchannelError as e:
                decoded.append(e)
        return self.execute_decoded(decoded)

    def execute_decoded(
        self, commands: Sequence[tuple[SignedCommand, Command] | BackchannelError]
    ) -> list[CommandResult | BackchannelError]:
        """:meth:`execute_many` for commands already decoded by :func:`~backchannel.protocol.wire.to_domain`.

        An error in the input is passed through to its slot of the output.
        """
        outcomes: list[CommandResult | BackchannelError | None] = [None] * len(commands)
        groups: dict[str, list[tuple[int, SignedCommand, Command]]] = {}
        for position, item in enumerate(commands):
            if isinstance(item, BackchannelError):
                outcomes[position] = item
            else:
                groups.setdefault(item[0].track, []).append((position, *item))
        with self._lock:
            self._counts["refused"] += sum(isinstance(item, BackchannelError) for item in commands)
            for track, group in groups.items():
                for position, outcome in self._run_served_group(track, group):
                    outcomes[position] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _run_served_group(
        self, track: str, group: list[tuple[int, SignedCommand, Command]]
    ) -> list[tuple[int, CommandResult | BackchannelError]]:
        try:
            self._check_served(track)
        except BackchannelError as e:
            return [(position, e) for position, _, _ in group]
        return self._run_group(track, group)

    def _run_group(
        self, track: str, group: list[tuple[int, SignedCommand, Command]]
    ) -> list[tuple[int, CommandResult | BackchannelError]]:
        for race in range(_MAX_RACES):
            if race > 1:  # lost even holding the track: a store without a real lock (SQLite nodes)
                pause = min(_RACE_BACKOFF_CAP, _RACE_BACKOFF * 2 ** (race - 2))
                time.sleep(random.uniform(0, pause))  # noqa: S311
            held = race > 0 or self._contended.get(track, 0.0) > time.monotonic()
            try:
                with self.store.exclusive(track) if held else nullcontext():
                    return self._decide_and_append(self._load(track), group)
            except ConflictError:
                # Another writer appended after the state was loaded. The cached state is still the
                # one at its size (it is replaced only after a successful append), so the next
                # _load folds just the entries the other writer committed. Decide again, holding
                # the track this time, and for a while after: it is contended (ADR-0061).
                self._counts["races"] += 1
                self._contended[track] = time.monotonic() + _CONTENDED_FOR
        raise ConflictError(f"track {track!r}: lost {_MAX_RACES} append races in a row")

    def _decide_and_append(
        self, loaded: _Loaded, group: list[tuple[int, SignedCommand, Command]]
    ) -> list[tuple[int, CommandResult | BackchannelError]]:
        state, now = loaded.state, self._clock.now()
        done: list[tuple[int, CommandResult | BackchannelError]] = []
        drafts: list[Draft] = []
        accepted: list[tuple[int, list[Event], int]] = []  # (position, events, index of its first draft)
        for position, signed, command in group:
            try:
                if isinstance(command, OpenTrack):
                    self._admission.verify_may_open(signed.key_id, command.track)
                verify_signature(state, command, signed, now, self.ahead)
                events = decide(state, command, now)
                if events:
                    drafts.extend(self._drafts(state, signed, command, events))
            except (AdmissionRefusedError, DomainError, EncodingError, VerificationError) as e:
                self._counts["refused"] += 1
                self._by_command[(signed.command, "refused")] += 1
                done.append((position, e))
                continue
            if not events:
                self._counts["replayed"] += 1
                self._by_command[(signed.command, "replayed")] += 1
                done.append((position, _retry_result(state, command)))
                continue
            first_draft = len(drafts) - len(events)
            accepted.append((position, events, first_draft))
            for event in events:  # at genesis, state is None and track.opened is at loaded.size + first_draft
                state = evolve(state, event, log_offset=loaded.size + first_draft if state is None else None)
        if drafts:
            track = group[0][1].track
            result = self._writer.append(track, drafts, expected_size=loaded.size)
            self._counts["appends"] += 1
            self._counts["appended"] += len(accepted)
            kinds = {position: signed.command for position, signed, _ in group}
            self._by_command.update((kinds[position], "appended") for position, _, _ in accepted)
            self._by_event.update(draft.type for draft in drafts)
            self._tracks[track] = _Loaded(state, result.checkpoint.checkpoint.size)
            self._remember(track, result.entries)
            for position, events, first_draft in accepted:
                first = result.entries[first_draft].seq
                done.append(
                    (position, CommandResult(tuple(events), first, result.checkpoint, replayed=False))
                )
        return done

    def _drafts(
        self, state: TrackState | None, signed: SignedCommand, command: Command, events: list[Event]
    ) -> list[Draft]:
        """The log drafts of a decided command; genesis also creates the track and registers the service."""
        if isinstance(command, OpenTrack):
            self._check_service_key(command)
            member = service_member(command.mediator_party)
            self._create_track(command.track)
            return [self._registration(member), *(self._draft(member, signed, e) for e in events)]
        assert state is not None  # decide() refuses every other command on a closed track
        return [self._draft(state.service_member, signed, event) for event in events]

    def _create_track(self, track: str) -> None:
        """Create the track's row; an empty one left by a genesis whose append failed is reused.

        The row and the genesis append are two store operations: if the append
        fails (a failed write, a crash), the row stays with size 0 and a retried
        ``open_track`` would otherwise find it taken forever (found by the
        simulator: ``backchannel rehearse run doha-shuttle --seed 22``).

        Raises:
            ConflictError: the track exists and holds entries.
        """
        try:
            self._writer.open_track(track)
        except ConflictError:
            if self.store.get_track(track).size:
                raise

    def _draft(self, member: str, signed: SignedCommand, event: Event) -> Draft:
        """A track event's draft; the command's wire bytes ("sig" or batch proof) spliced in as they are."""
        event_dict = event.to_dict()
        body: dict[str, JSONValue] = {"command": signed.wire_dict(), "event": event_dict}
        data = b"".join((b'{"command":', signed.wire_bytes(), b',"event":', canonicalize(event_dict), b"}"))
        return Draft(event.type, member, body, self._node.signing, data)

    def _registration(self, member: str) -> Draft:
        body: dict[str, JSONValue] = {
            "member": member,
            "ed25519": self._node.signing.verifying_key.to_text(),
            "x25519": self._node.agreement.to_text(),
        }
        return Draft(KEY_REGISTERED, member, body, self._node.signing)

    def _check_service_key(self, command: OpenTrack) -> None:
        if command.service_key.ed25519 != self._node.signing.verifying_key.public_bytes:
            raise VerificationError(
                f"open_track names service key {command.service_key.key_id}, "
                f"but this service's key is {self._node.signing.key_id}"
            )

    def _load(self, track: str) -> _Loaded:
        loaded = self._tracks.get(track) or _Loaded(None, 0)
        try:
            size = self.store.get_track(track).size  # one read: is it there, and did others append?
        except NotFoundError:
            return loaded
        if size != loaded.size:
            state = loaded.state
            entries = log_entries(self.store, track, loaded.size, size)
            if state is not None:  # what another node appended: the delivery service reads it next
                entries = iter(folded := list(entries))
                self._remember(track, folded)
            for index, event in _domain_events(entries):
                state = evolve(state, event, log_offset=index if state is None else None)
            loaded = _Loaded(state, size)
            self._tracks[track] = loaded
        return loaded

    def events(self, state: TrackState, start: int) -> Iterator[Event]:
        """The track events of ``state`` from sequence ``start`` on (the recent ones from memory).

        Raises:
            NotFoundError: the track holds fewer events than ``state`` counts.
        """
        for sequence in range(start, state.version):
            yield event_from_dict(log_body(self.entry(state.track, state.log_index(sequence)))["event"])


def _retry_result(state: TrackState | None, command: Command) -> CommandResult:
    """The result of a command that changed nothing: a retry, or a duplicate receipt (a no-op)."""
    assert state is not None  # decide() returns [] only for an open track
    first = None
    if command.idempotency_key is not None:
        first = state.idempotent_result(command.member, command.idempotency_key)
    events = () if first is None else first.events
    return CommandResult(events, None, None, replayed=True)


def _domain_events(entries: Iterator[LogEntry]) -> Iterator[tuple[int, Event]]:
    """Each track event of ``entries`` with its log index (key registrations are skipped)."""
    for entry in entries:
        if entry.signed.event.type != KEY_REGISTERED:
            yield entry.seq, event_from_dict(log_body(entry)["event"])
