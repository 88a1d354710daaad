"""Cross-track facts for the coordination log (issue #12, ADR-0028): dependencies met, and who is blocked.

:class:`CoordinationService` sits beside the other services over one
:class:`~backchannel.service.tracks.TrackService`:

- **Facts.** :meth:`CoordinationService.after_commit` runs after every group
  commit (the API's committer calls it). For each coordination log (a track
  whose book holds a dependency), it looks for each waiting dependency's
  outcome in the other track's log: a ``deal.committed`` naming the deal, an
  ``escrow.released`` naming the escrow, a ``commitment.revealed`` naming the
  commitment. It scans each track's new entries once (a cursor per track) and
  keeps only ``(track, event type, ref) -> log index``. When the fact is there,
  it runs ``record_dependency_met`` signed by the service member
  ``<mediator>/service`` with an idempotency key derived from the log and the
  dependency, carrying only the fact: the track, the log index and the event
  type, never the other track's content. Only a track run by the same
  mediator party shares its outcomes with a coordination log; any other is
  never read.
- **Status.** :meth:`CoordinationService.status` answers what a coordination
  log shows its mediator: each dependency (met, withdrawn, or blocked with its
  reason), each resource with its bookings, queue and saturation at ``now``,
  the bookings at risk because a booked person has gone offline (ADR-0053: its
  last heartbeat on some track where it is a member is older than the
  heartbeat window; the delivery service's presence, read through
  :func:`delivery_liveness`), and the open deadlocks with their cycle and suggestions.

Replay (``service/tracks.replay``) re-decides each ``record_dependency_met``
from the log alone: the fact is the service's word, signed by its key. This
module does not speak HTTP and does not decide who may read a log (the API
allows the mediator's members only).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from backchannel.clock import Clock
from backchannel.coordination.calendar import Booking, Calendars, Resource
from backchannel.coordination.risk import Liveness, Offline, bookings_at_risk, offline_members
from backchannel.domain import TrackState, event_from_dict
from backchannel.domain.coordination.book import DependencyRecord, DependencyStatus
from backchannel.domain.coordination.commands import DependencyKind
from backchannel.domain.errors import IdempotencyConflictError, TrackStateError
from backchannel.errors import BackchannelError, NotFoundError
from backchannel.log.canonical import JSONValue
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service.delivery import DeliveryService
from backchannel.service.tracks import TrackService

__all__ = [
    "CoordinationService",
    "CoordinationStatus",
    "DependencyRecord",  # re-exported for the API, which reads the domain through the service
    "ResourceView",
    "delivery_liveness",
    "met_key",
]

_log = logging.getLogger(__name__)

_REF_FIELDS = {
    DependencyKind.DEAL_COMMITTED.event_type: "deal_id",
    DependencyKind.ESCROW_RELEASED.event_type: "escrow_id",
    DependencyKind.COMMITMENT_REVEALED.event_type: "commitment_id",
}


def met_key(log: str, dependency_id: str) -> str:
    """The idempotency key of the service's ``record_dependency_met`` for ``dependency_id`` in ``log``."""
    return "dependency-met:" + hashlib.sha256(f"{log}\n{dependency_id}".encode()).hexdigest()[:48]


@dataclass(frozen=True, slots=True)
class ResourceView:
    """A resource, its accepted and queued bookings, and whether it is saturated at ``now``.

    ``saturated_from`` are the starts of its accepted bookings at which it is
    at capacity (a person: the attention budget is spent), now or later.
    ``at_risk`` names, by booking id, the bookings (accepted or queued) that an
    offline member puts at risk, with who and since when.
    """

    resource: Resource
    accepted: tuple[Booking, ...]
    queued: tuple[Booking, ...]
    saturated: bool
    load: int
    saturated_from: tuple[datetime, ...] = ()
    at_risk: Mapping[str, Offline] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CoordinationStatus:
    """What a coordination log shows: dependencies, resources and deadlocks (see the module docstring)."""

    log: str
    at: datetime
    state: TrackState
    resources: tuple[ResourceView, ...]

    @property
    def dependencies(self) -> list[DependencyRecord]:
        """Every dependency, in declaration order."""
        return self.state.coordination.dependency_list()

    @property
    def blocked(self) -> dict[str, list[DependencyRecord]]:
        """Each blocked waiter's track (``us-iran-nuclear`` for ``us-iran-nuclear#phase-2``) and its waits."""
        found: dict[str, list[DependencyRecord]] = {}
        for d in self.dependencies:
            if d.status is DependencyStatus.WAITING:
                found.setdefault(d.waiter.partition("#")[0], []).append(d)
        return found


def delivery_liveness(delivery: DeliveryService) -> Callable[[datetime], Liveness]:
    """Every member's last heartbeat on each track whose presence the delivery service keeps."""

    def liveness(now: datetime) -> Liveness:
        snapshot = delivery.presence_snapshot(now)
        beats = {
            track: {m: at for p in parties for m, at in p.heartbeats} for track, parties in snapshot.items()
        }
        return Liveness(beats, delivery.policy.heartbeat_window)

    return liveness


class CoordinationService:
    """Cross-track facts and status over a :class:`TrackService` (see the module docstring).

    Args:
        tracks: The track service.
        node: The service's keys; ``record_dependency_met`` is signed with them as ``<mediator>/service``.
        clock: The clock ``now`` defaults to.
        liveness: The members' heartbeats at an instant (:func:`delivery_liveness`); without it
            no booking is ever at risk.
    """

    def __init__(
        self,
        tracks: TrackService,
        node: KeyPair,
        *,
        clock: Clock,
        liveness: Callable[[datetime], Liveness] | None = None,
    ) -> None:
        """Create the service (it discovers the coordination logs on its first call)."""
        self._tracks = tracks
        self._node = node
        self._clock = clock
        self._liveness = liveness
        self._lock = threading.Lock()
        self._logs: set[str] | None = None
        self._scanned: dict[str, int] = {}
        self._facts: dict[tuple[str, str, str], int] = {}

    def after_commit(self, changed: Iterable[str]) -> list[str]:
        """Record every dependency that the tracks ``changed`` (or anything before) now meet.

        Returns:
            The ids of the dependencies recorded as met by this call.
        """
        with self._lock:
            logs = self._known_logs()
            logs.update(t for t in changed if self._holds_dependencies(t))
            recorded: list[str] = []
            for log in sorted(logs):
                try:
                    recorded += self._sync(log)
                except BackchannelError:  # one log's failure must not stop the others
                    _log.exception("coordination sync failed on %s", log)
            return recorded

    def status(self, log: str, now: datetime | None = None) -> CoordinationStatus:
        """The coordination log's dependencies, resources (with saturation at ``now``) and deadlocks.

        Raises:
            NotFoundError: no such track.
        """
        at = now or self._clock.now()
        state = self._state(log)
        calendars = state.coordination.calendars()
        offline = offline_members(self._liveness(at), at) if self._liveness is not None else {}
        views = tuple(
            self._view(calendars, resource, at, offline) for resource in calendars.resources.values()
        )
        return CoordinationStatus(log, at, state, tuple(sorted(views, key=lambda v: v.resource.resource_id)))

    # --- internals -----------------------------------------------------------------------------
    @staticmethod
    def _view(
        calendars: Calendars, resource: Resource, at: datetime, offline: Mapping[str, Offline]
    ) -> ResourceView:
        rid = resource.resource_id
        accepted = tuple(calendars.accepted(rid))
        queued = tuple(b for b in calendars.queued() if b.resource == rid)
        full = sorted(
            {b.start for b in accepted if b.end > at and calendars.saturated(rid, max(b.start, at))}
        )
        return ResourceView(
            resource,
            accepted,
            queued,
            calendars.saturated(rid, at),
            calendars.load(rid, at),
            tuple(full),
            bookings_at_risk(calendars.resources, accepted + queued, offline, at) if offline else {},
        )

    def _state(self, track: str) -> TrackState:
        state = self._tracks.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        return state

    def _holds_dependencies(self, track: str) -> bool:
        try:
            state = self._tracks.state(track)
        except BackchannelError:  # a damaged track (set aside at start-up) is nobody's coordination log
            return False
        return state is not None and len(state.coordination.dependencies) > 0

    def _known_logs(self) -> set[str]:
        if self._logs is None:
            self._logs = {
                t.track for t in self._tracks.store.list_tracks() if self._holds_dependencies(t.track)
            }
        return self._logs

    def _sync(self, log: str) -> list[str]:
        state = self._state(log)
        recorded: list[str] = []
        for dependency in state.coordination.dependency_list():
            if dependency.status is not DependencyStatus.WAITING:
                continue
            if not self._shares(state, dependency.on_track):
                continue
            index = self._fact(dependency.on_track, dependency.kind.event_type, dependency.ref)
            if index is not None and self._record(state, dependency, index):
                recorded.append(dependency.dependency_id)
        return recorded

    def _shares(self, log: TrackState, track: str) -> bool:
        """Whether ``track`` shares its outcomes with ``log``: it is served here by the same mediator."""
        try:
            other = self._tracks.state(track)
        except BackchannelError:  # damaged: it shares nothing until it is repaired
            return False
        return other is not None and other.mediator == log.mediator

    def _fact(self, track: str, event_type: str, ref: str) -> int | None:
        """The log index of ``track``'s ``event_type`` naming ``ref``, scanning its new entries once."""
        start = self._scanned.get(track, 0)
        stop = self._tracks.store.size(track)
        for stored in self._tracks.store.read(track, start, stop):
            entry = stored.decode()
            field = _REF_FIELDS.get(entry.signed.event.type)
            if field is not None:
                body = entry.signed.event.body["event"]
                event = event_from_dict(body)
                self._facts.setdefault((track, event.type, str(getattr(event, field))), entry.seq)
        self._scanned[track] = max(start, stop)
        return self._facts.get((track, event_type, ref))

    def _record(self, state: TrackState, dependency: DependencyRecord, index: int) -> bool:
        key = met_key(state.track, dependency.dependency_id)
        body: dict[str, JSONValue] = {
            "dependency_id": dependency.dependency_id,
            "evidence": {
                "track": dependency.on_track,
                "log_index": index,
                "event_type": dependency.kind.event_type,
            },
        }
        signed = sign_command(
            self._node.signing,
            track=state.track,
            command="record_dependency_met",
            member=state.service_member,
            body=body,
            issued_at=self._clock.now(),
            nonce=hashlib.sha256(key.encode()).hexdigest()[:32],
            idempotency_key=key,
        )
        try:
            return not self._tracks.execute(signed).replayed
        except (IdempotencyConflictError, TrackStateError):
            return False  # met or withdrawn meanwhile (another node, or a race with the mediator)
