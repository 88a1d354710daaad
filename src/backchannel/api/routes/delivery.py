"""The inbox: ``POST .../inbox/lease``, ``GET .../inbox/poll``, ``.../inbox/stream``, heartbeats, presence.

Deliveries carry the log entry that queued them (signed event, salt, leaf hash)
and, for a verbatim forward, the author's signed command. The stream's event
ids are log indexes: on reconnect with ``Last-Event-ID: n``, the deliveries
leased to the party earlier, still unsettled and unexpired, with a log index
above ``n`` are sent again first (the delivery service keeps them:
:meth:`~backchannel.service.delivery.DeliveryService.resend`).

This module does not hold delivery state: it renders what the delivery service leases.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from backchannel.api.context import (
    RECHECK_SECONDS,
    ApiContext,
    read_body,
    threaded,
)
from backchannel.api.schemas import (
    DeliveriesResponse,
    DeliveryModel,
    HeartbeatResponse,
    PartyPresenceModel,
    PresenceResponse,
)
from backchannel.broker import Delivery
from backchannel.domain import PartyKind, TrackState
from backchannel.domain.errors import NotAuthorizedError
from backchannel.errors import EncodingError
from backchannel.log.records import format_timestamp

__all__ = ["router"]

_MAX_LEASE = 1000
_Max = Annotated[int | None, Query(alias="max", ge=1, le=_MAX_LEASE)]
_PollTimeout = Annotated[float, Query(alias="timeout", ge=0, le=60)]
_StreamTimeout = Annotated[float, Query(alias="timeout", ge=0, le=3600)]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.post("/v1/tracks/{track}/inbox/lease", response_model=DeliveriesResponse)
    async def post_lease(track: str, request: Request, max_n: _Max = None) -> DeliveriesResponse:
        """Lease the requester's party's deliveries (most urgent first), within its credit."""
        body = await read_body(request)
        _, reader = await threaded(ctx.auth.reader, request, track, body)
        return DeliveriesResponse(deliveries=await threaded(_lease, ctx, track, reader.member, max_n))

    @router.get("/v1/tracks/{track}/inbox/poll", response_model=DeliveriesResponse)
    async def get_poll(
        track: str, request: Request, wait: _PollTimeout = 30.0, max_n: _Max = None
    ) -> DeliveriesResponse:
        """Long poll: lease as soon as something is deliverable, or answer ``[]`` after ``timeout`` s."""
        await read_body(request)
        _, reader = await threaded(ctx.auth.reader, request, track, b"")
        deadline = time.monotonic() + wait
        while True:
            since = ctx.changes.generation
            leased = await threaded(_lease, ctx, track, reader.member, max_n)
            remaining = deadline - time.monotonic()
            if leased or remaining <= 0 or await request.is_disconnected():
                return DeliveriesResponse(deliveries=leased)
            await ctx.changes.wait(since, min(remaining, RECHECK_SECONDS))

    @router.get(
        "/v1/tracks/{track}/inbox/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}},
    )
    async def get_stream(
        track: str,
        request: Request,
        lifetime: _StreamTimeout = 30.0,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: ``id: <log index>``, ``event: delivery``, ``data: <delivery JSON>``.

        Resumes after ``Last-Event-ID``; a comment every 15 s keeps it alive; it ends after
        ``timeout`` seconds (reconnect with the last id seen).
        """
        await read_body(request)
        after = _last_event_id(last_event_id)
        _, reader = await threaded(ctx.auth.reader, request, track, b"")
        slot = ctx.streams.acquire(track, reader.member, lifetime)  # 429 past the member's limit
        events = _released(
            _stream(ctx, track=track, member=reader.member, after=after, lifetime=lifetime),
            lambda: ctx.streams.release(track, reader.member, slot),
        )
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @router.post("/v1/tracks/{track}/heartbeat", response_model=HeartbeatResponse)
    async def post_heartbeat(track: str, request: Request) -> HeartbeatResponse:
        """Record that the requester is alive."""
        body = await read_body(request)
        return await threaded(_heartbeat, ctx, request, track, body)

    @router.get("/v1/tracks/{track}/presence", response_model=PresenceResponse)
    async def get_presence(track: str, request: Request) -> PresenceResponse:
        """Every party's liveness (mediator only: 403 for anyone else)."""
        await read_body(request)
        return await threaded(_presence, ctx, request, track)

    return router


def _lease(ctx: ApiContext, track: str, member: str, max_n: int | None) -> list[DeliveryModel]:
    """Lease deliveries for ``member``'s party (kept by the delivery service for resends), rendered."""
    deliveries = ctx.delivery.lease(track, member, max_n=max_n)
    if not deliveries:
        return []
    state = ctx.state(track)
    return [_render(ctx, state, d) for d in deliveries]


def _resend(ctx: ApiContext, track: str, member: str, after: int) -> list[DeliveryModel]:
    """The deliveries leased earlier to ``member``'s party, unsettled and unexpired, above ``after``."""
    again = ctx.delivery.resend(track, member, after)
    state = ctx.state(track)
    return [_render(ctx, state, d) for d in again]


def _render(ctx: ApiContext, state: TrackState, delivery: Delivery) -> DeliveryModel:
    envelope = delivery.envelope
    entry_model, entry = ctx.entry(state.track, envelope.log_index)
    original = None
    event = entry.signed.event
    if event.type == "message.forwarded":
        message = state.message(envelope.message_id)
        _, submitted = ctx.entry(state.track, state.log_index(message.sequence))
        body = submitted.signed.event.body
        command = body.get("command") if isinstance(body, dict) else None
        original = dict(command) if isinstance(command, dict) else None
    return DeliveryModel(
        message_id=envelope.message_id,
        log_index=envelope.log_index,
        priority=envelope.priority.value,
        attempt=delivery.attempt,
        sender=envelope.sender,
        visible_until=format_timestamp(delivery.visible_at),
        entry=entry_model,
        original=original,
    )


def _heartbeat(ctx: ApiContext, request: Request, track: str, body: bytes) -> HeartbeatResponse:
    state, reader = ctx.auth.reader(request, track, body)
    now = ctx.clock.now()
    ctx.delivery.heartbeat(track, reader.member, now)
    return HeartbeatResponse(
        member=reader.member, party=state.member(reader.member).party, at=format_timestamp(now)
    )


def _presence(ctx: ApiContext, request: Request, track: str) -> PresenceResponse:
    state, reader = ctx.auth.reader(request, track, b"")
    party = state.member(reader.member).party
    if state.parties[party].kind is not PartyKind.MEDIATOR:
        raise NotAuthorizedError(f"{reader.member}: only the mediator sees presence")
    return PresenceResponse(
        parties=[
            PartyPresenceModel(
                party=p.party,
                status=p.status.value,
                last_heartbeat=None if p.last_heartbeat is None else format_timestamp(p.last_heartbeat),
                silent_since=None if p.silent_since is None else format_timestamp(p.silent_since),
                members_online=list(p.members_online),
            )
            for p in ctx.delivery.presence(track)
        ]
    )


def _sse(delivery: DeliveryModel) -> bytes:
    data = json.dumps(delivery.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)
    return f"id: {delivery.log_index}\nevent: delivery\ndata: {data}\n\n".encode()


def _last_event_id(value: str | None) -> int:
    if value is None or not value.strip():
        return -1
    if not value.strip().isdigit():
        raise EncodingError(f"Last-Event-ID {value[:40]!r} is not a log index")
    return int(value.strip())


async def _stream(
    ctx: ApiContext, *, track: str, member: str, after: int, lifetime: float
) -> AsyncIterator[bytes]:
    deadline = time.monotonic() + lifetime
    last_sent = time.monotonic()
    yield b": stream open\n\n"
    for delivery in await threaded(_resend, ctx, track, member, after):
        yield _sse(delivery)
        last_sent = time.monotonic()
    while True:
        since = ctx.changes.generation
        for delivery in await threaded(_lease, ctx, track, member, None):
            yield _sse(delivery)
            last_sent = time.monotonic()
        now = time.monotonic()
        if now >= deadline:  # a disconnect cancels this generator (StreamingResponse)
            return
        if now - last_sent >= ctx.keepalive:
            yield b": keep-alive\n\n"
            last_sent = now
        wake = min(deadline - now, RECHECK_SECONDS, max(0.0, last_sent + ctx.keepalive - now))
        await ctx.changes.wait(since, wake)


async def _released(events: AsyncIterator[bytes], release: Callable[[], None]) -> AsyncIterator[bytes]:
    """``events``, then ``release()`` however the stream ends (its end, an error, a disconnect)."""
    try:
        async for chunk in events:
            yield chunk
    finally:
        release()
