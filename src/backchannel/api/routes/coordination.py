"""``GET /v1/tracks/{track}/coordination``: a coordination log's dependencies, resources and deadlocks.

Issue #12, ADR-0027/0028. For the mediator's members only: to any other reader
the view does not exist (the 404 of an unknown track), so the route opens no
new path to data. Commands go through the signed-command route
(``declare_dependency``, ``book_resource``...). This module renders; the
status comes from :class:`~backchannel.service.coordination.CoordinationService`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from backchannel.api.context import ApiContext, read_body, threaded
from backchannel.coordination.calendar import Booking
from backchannel.coordination.risk import Offline
from backchannel.domain import PartyKind
from backchannel.errors import NotFoundError
from backchannel.service.coordination import CoordinationStatus, DependencyRecord, ResourceView

__all__ = ["CoordinationResponse", "router"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EvidenceModel(_Model):
    """The fact that met a dependency: only the track, the log index and the event type."""

    track: str
    log_index: int
    event_type: str


class DependencyModel(_Model):
    """One dependency, with its status and the reason its waiter is blocked."""

    dependency_id: str
    waiter: str
    on_track: str
    kind: str
    ref: str
    status: str
    reason: str
    declared_at: str
    evidence: EvidenceModel | None
    withdrawn_because: str | None


class BlockedModel(_Model):
    """A blocked track (or the track of a blocked item or phase) and why."""

    track: str
    waiters: list[str]
    reasons: list[str]


class BookingModel(_Model):
    """A booking held or queued; ``at_risk`` when a booked person (or its holder) has gone offline."""

    booking_id: str
    holder: str
    start: str
    end: str
    priority: int
    at_risk: bool = False
    at_risk_reason: str | None = None


class ResourceModel(_Model):
    """A resource, its bookings and queue, whether it is saturated now, and from when it is later."""

    resource_id: str
    kind: str
    capacity: int
    load: int
    saturated: bool
    saturated_from: list[str]
    bookings: list[BookingModel]
    queue: list[BookingModel]


class DeadlockModel(_Model):
    """An open deadlock: its cycle in words, its nodes and the suggested resolutions."""

    deadlock_id: str
    cycle: str
    nodes: list[str]
    suggestions: list[str]
    detected_at: str


class CoordinationResponse(_Model):
    """What a coordination log shows its mediator."""

    track: str
    at: str
    dependencies: list[DependencyModel]
    blocked: list[BlockedModel]
    resources: list[ResourceModel]
    deadlocks: list[DeadlockModel]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.get("/v1/tracks/{track}/coordination", response_model=CoordinationResponse)
    async def get_coordination(track: str, request: Request) -> CoordinationResponse:
        """Dependencies (met or blocked, with reasons), resources with bookings and queues, deadlocks."""
        await read_body(request)
        return await threaded(_coordination, ctx, request, track)

    return router


def _coordination(ctx: ApiContext, request: Request, track: str) -> CoordinationResponse:
    state, reader = ctx.auth.reader(request, track, b"")
    if state.parties[state.member(reader.member).party].kind is not PartyKind.MEDIATOR:
        raise NotFoundError(f"no track {track!r}")  # the log is the mediator's: to others it does not exist
    return render(ctx.coordination.status(track))


def render(status: CoordinationStatus) -> CoordinationResponse:
    """The response of ``status``."""
    book = status.state.coordination
    return CoordinationResponse(
        track=status.log,
        at=status.at.isoformat(),
        dependencies=[_dependency(d) for d in status.dependencies],
        blocked=[
            BlockedModel(track=t, waiters=[d.waiter for d in ds], reasons=[d.describe() for d in ds])
            for t, ds in status.blocked.items()
        ],
        resources=[_resource(v) for v in status.resources],
        deadlocks=[
            DeadlockModel(
                deadlock_id=d.deadlock_id,
                cycle=d.cycle,
                nodes=list(d.nodes),
                suggestions=list(d.suggestions),
                detected_at=d.detected_at.isoformat(),
            )
            for d in sorted(book.deadlocks.values(), key=lambda d: d.detected_at)
        ],
    )


def _dependency(d: DependencyRecord) -> DependencyModel:
    evidence = d.evidence
    return DependencyModel(
        dependency_id=d.dependency_id,
        waiter=d.waiter,
        on_track=d.on_track,
        kind=d.kind.value,
        ref=d.ref,
        status=d.status.value,
        reason=d.describe(),
        declared_at=d.declared_at.isoformat(),
        evidence=None
        if evidence is None
        else EvidenceModel(
            track=evidence.track, log_index=evidence.log_index, event_type=evidence.event_type
        ),
        withdrawn_because=d.reason,
    )


def _booking(b: Booking, risk: Offline | None) -> BookingModel:
    return BookingModel(
        booking_id=b.booking_id,
        holder=b.holder,
        start=b.start.isoformat(),
        end=b.end.isoformat(),
        priority=b.priority,
        at_risk=risk is not None,
        at_risk_reason=None if risk is None else risk.describe(),
    )


def _resource(v: ResourceView) -> ResourceModel:
    return ResourceModel(
        resource_id=v.resource.resource_id,
        kind=v.resource.kind.value,
        capacity=v.resource.capacity,
        load=v.load,
        saturated=v.saturated,
        saturated_from=[t.isoformat() for t in v.saturated_from],
        bookings=[_booking(b, v.at_risk.get(b.booking_id)) for b in v.accepted],
        queue=[_booking(b, v.at_risk.get(b.booking_id)) for b in v.queued],
    )
