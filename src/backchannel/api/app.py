"""The HTTP API of the track service (ADR-0011, ADR-0012).

:func:`create_app` wraps a :class:`~backchannel.service.tracks.TrackService`:

- ``POST /v1/tracks/{track}/commands``: run one signed command;
- ``GET /v1/tracks/{track}/events``: the log entries the requester may see,
  with their salts (:func:`~backchannel.domain.visibility.visible_to`);
- ``GET /v1/tracks/{track}/leaves``: leaf hashes only (the witness view);
- ``GET /v1/tracks/{track}/checkpoint`` and ``.../proofs/inclusion``,
  ``.../proofs/consistency``: the transparency-log views; the checkpoint note
  carries every stored witness cosignature, and ``?cosigned=k`` asks for the
  newest checkpoint with at least *k* of them (``&timeout=s`` waits for one);
- ``POST /v1/tracks/{track}/checkpoints/{size}/cosignatures``: a witness
  party's member submits its C2SP cosignature of a checkpoint
  (:mod:`backchannel.service.witnesses`, ADR-0019);
- ``GET /v1/service`` (unauthenticated): the service node's key and log key;
- ``GET /v1/tracks``: the tracks the signing key is an active member key of,
  with each one's title, size and the caller's role (a key no track knows: 401);
- ``GET /metrics``, ``/healthz``, ``/readyz``: operating the service
  (:mod:`backchannel.api.routes.ops`, ADR-0029);
- ``/console/``: the operations console, signed in with a one-time link
  (:mod:`backchannel.api.routes.console`, ADR-0046, ADR-0047);
- ``GET /v1/tracks/{track}/escrows/{escrow_id}``: an escrow and how far its
  release condition is (ADR-0017); 404 unless the requester's party may see it.
  The lifespan ticker also refunds expired escrows
  (:class:`~backchannel.service.escrow.EscrowService`);
- ``GET /v1/tracks/{track}/obligations/{id}``: an obligation's terms, level,
  tokens and ladder history (ADR-0018; the mediator, the bound party,
  inspectors and the parties it is shared with; anyone else gets the 404 of
  an unknown id). The lifespan ticker also signs the reviews that take due
  steps down (:mod:`backchannel.service.obligations`);
- ``POST /v1/tracks/{track}/inbox/lease?max=N``: lease the requester's party's
  deliveries; ``GET .../inbox/stream`` (Server-Sent Events) and
  ``GET .../inbox/poll`` (long poll) lease them as they become deliverable;
- ``POST /v1/tracks/{track}/heartbeat`` and ``GET .../presence`` (mediator only);
- ``PUT /v1/tracks/{track}/annexes/{digest}`` (the raw bytes, usually a sealed
  annex, whose SHA-256 is ``digest``) and ``GET`` of the same path: annex blobs
  (:mod:`backchannel.service.annexes`, ADR-0014). An upload is at most the
  service's annex limit (413 naming it) and must hash to the path's digest
  (422 on field ``digest``); 201 the first time the requester's party uploads
  those bytes, 200 after. A blob is readable by its uploaders' parties, the
  mediator and the parties a message naming it was delivered to; anyone else
  gets the same 404 as for an unknown digest.
- ``GET /v1/tracks/{track}/messages/{message_id}/receipts``: proof of receipt of
  a message for each recipient party (see below).

**Proof of receipt.** For each party a message was delivered to, the answer
gives the delivering entry and, once settled, the ``receipt.recorded`` entry
that settled it (with its salt: the recipient's signed ``record_receipt`` is
embedded verbatim in its body), the signer's Ed25519 key as the track enrolled
it, and the receipt's item for the message. Parties that have not settled are
``pending`` or ``dead_lettered``, without a receipt. Only the message's author
party and the mediator may ask; anyone else gets the same 404 as for a message
that does not exist. Every entry returned is one the reader may already see on
``GET .../events``.
- ``GET /v1/tracks/{track}/texts``, ``.../texts/{doc}`` (``?version=N``),
  ``.../texts/{doc}/diff?from=A&to=B`` and ``.../texts/{doc}/comments``: the
  negotiating text (:mod:`backchannel.service.texts`, ADR-0020), for the
  mediator and the delegations; comments for the mediator and their party only.

**Delivery.** Commands go through :meth:`DeliveryService.submit
<backchannel.service.delivery.DeliveryService.submit>` (a full queue is 429 with
``Retry-After``). A delivery carries the log entry that queued it (signed event,
salt, leaf hash) and, for a verbatim forward, the author's signed command, whose
SHA-256 is the message id. Settlement is a ``record_receipt`` command. The
stream's event ids are log indexes: on reconnect with ``Last-Event-ID: n``, the
deliveries leased to the party earlier, still unsettled and unexpired, with a
log index above ``n`` are sent again first (the client may have missed them).
A background task started by the app's lifespan runs the periodic work
(:class:`~backchannel.service.schedule.PeriodicWork`) of the tracks that have
work due (checking at least every second), so redeliveries, dead letters,
escalations, deal deadlines, escrow expiries and ladder reviews happen without
any client; it backs off on failure and logs a failure once.

**Authentication** (:mod:`backchannel.api.auth`). Every ``/v1/tracks`` request
carries an RFC 9421 signature checked against the track's keys (401, then 403
for a revoked or expired key), its nonce within a budget per key and per track
(:class:`~backchannel.service.replay.ReplayWindow`: 429 past it); the requested
track must exist (404) first, and a track set aside by the start-up integrity
check answers 503. A member holds at most ``streams_per_member`` open inbox
streams (429 past it).
Errors are RFC 9457 problem+json (:mod:`backchannel.api.errors`); request
bodies are limited to 1 MiB (413), annex uploads to the annex limit.

**Layout.** This module assembles the app: an
:class:`~backchannel.api.context.ApiContext`, one router per capability
(:mod:`backchannel.api.routes`), the error handlers and the OpenAPI document
(:mod:`backchannel.api.openapi`), and the lifespan ticker.

Wake-ups between processes go through the context's notifier
(:mod:`backchannel.service.notifier`, ADR-0060): with one started by the
lifespan, a stream or long poll learns of a change made through another node
within its polling interval (50 ms), not at the next one-second re-check.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from backchannel.api.auth import Authenticator
from backchannel.api.context import (
    MAX_BATCH_BODY_BYTES,
    MAX_BATCH_COMMANDS,
    MAX_BODY_BYTES,
    RECHECK_SECONDS,
    ApiContext,
    inline_calls,
    threaded,
)
from backchannel.api.errors import install_error_handlers
from backchannel.api.metrics import Metrics, count_refusals
from backchannel.api.openapi import ERROR_RESPONSES, install_openapi
from backchannel.api.routes import (
    admin,
    commands,
    coordination,
    deals,
    escrow,
    forecasts,
    log,
    obligations,
    ops,
    texts,
    tracks,
    witnesses,
)
from backchannel.api.routes import annexes as annexes_routes
from backchannel.api.routes import console as console_routes
from backchannel.api.routes import delivery as delivery_routes
from backchannel.api.routes import language as language_routes
from backchannel.broker import DeliveryPolicy
from backchannel.clock import Clock, SystemClock
from backchannel.protocol.httpsig import DEFAULT_MAX_SKEW
from backchannel.service.annexes import AnnexService
from backchannel.service.delivery import DeliveryService
from backchannel.service.language import LanguageService
from backchannel.service.limits import DEFAULT_STREAMS_PER_MEMBER, StreamSlots
from backchannel.service.notifier import Notifier
from backchannel.service.replay import ReplayWindow
from backchannel.service.tracks import TrackService

__all__ = ["KEEPALIVE_SECONDS", "MAX_BATCH_BODY_BYTES", "MAX_BATCH_COMMANDS", "MAX_BODY_BYTES", "create_app"]

_log = logging.getLogger(__name__)

_MAX_TICK_BACKOFF = 300.0
KEEPALIVE_SECONDS = 15.0
"""A stream sends a comment line this often when it has nothing else to send."""


def create_app(  # noqa: PLR0913 - the service, then keyword-only options and test seams
    service: TrackService,
    *,
    public_origin: str,
    clock: Clock | None = None,
    delivery: DeliveryService | None = None,
    annexes: AnnexService | None = None,
    tick_interval: float | None = RECHECK_SECONDS,
    replay: ReplayWindow | None = None,
    streams_per_member: int = DEFAULT_STREAMS_PER_MEMBER,
    language: LanguageService | None = None,
    metrics_token: str | None = None,
    inline: bool = False,
    notifier: Notifier | None = None,
) -> FastAPI:
    """Build the HTTP API around a track service.

    Args:
        service: The track service.
        public_origin: The scheme and authority clients send to
            (``https://backchannel.example``); RFC 9421 target URIs are built
            from it, never from the ``Host`` header.
        clock: The clock for ``created`` skew and key usability (default: system clock).
        delivery: The delivery service over ``service`` (default: one with the
            default :class:`~backchannel.broker.DeliveryPolicy`, signing as the
            track service's node).
        annexes: The annex service over ``service`` (default: one with the
            default size limit, 1 MiB).
        tick_interval: The longest pause, in seconds, of the lifespan task that
            ticks due tracks; ``None`` runs no such task (tests tick by hand).
        replay: The replay window, with its per-key and per-track budgets
            (default: :class:`~backchannel.service.replay.ReplayWindow`'s
            defaults over the allowed skew; issue #8).
        streams_per_member: The most inbox streams one member may hold open (429 past it).
        language: The language aid's service (default: one that builds the aid on first use).
        metrics_token: The bearer token ``/metrics`` requires; ``None``: loopback
            clients only (ADR-0029).
        inline: Run the blocking handlers in the event loop's own thread and commit
            in the caller's thread (no thread pool, no committer worker): the
            simulator's mode, one request at a time (ADR-0043); never for a live server.
        notifier: How the app learns of changes other nodes made (default: its own
            only); the lifespan starts and stops it (ADR-0059).

    Returns:
        The FastAPI application.
    """
    build = functools.partial(
        _context,
        public_origin=public_origin,
        streams_per_member=streams_per_member,
        language=language,
        inline=inline,
        notifier=notifier,
    )
    ctx = build(service, clock=clock, delivery=delivery, annexes=annexes, replay=replay)
    app = FastAPI(
        title="backchannel",
        version="1",
        summary="Signed commands in, a verifiable log out.",
        responses=ERROR_RESPONSES,
        lifespan=_lifespan(ctx, tick_interval),
    )

    install_error_handlers(app)
    for capability in (commands, log, escrow, obligations, tracks, delivery_routes, annexes_routes):
        app.include_router(capability.router(ctx))
    for capability in (deals, witnesses, texts, forecasts, language_routes, admin, coordination):
        app.include_router(capability.router(ctx))
    metrics = Metrics(ctx)
    app.state.metrics = metrics
    app.state.ctx = ctx  # the routes' context, for in-process benchmarks of the same path
    ctx.committer.prepare_with(service.ahead.verify, workers=VERIFIERS)  # ADR-0050
    app.include_router(ops.router(ctx, metrics, token=metrics_token))
    app.include_router(console_routes.router(ctx, public_origin, metrics))  # the console (ADR-0046)
    count_refusals(app, metrics)
    install_openapi(app)
    if inline:
        app.add_middleware(_Inline)

    def rebind(
        service: TrackService,
        *,
        clock: Clock | None = None,
        delivery: DeliveryService | None = None,
        annexes: AnnexService | None = None,
        replay: ReplayWindow | None = None,
    ) -> None:
        fresh = build(service, clock=clock, delivery=delivery, annexes=annexes, replay=replay)
        vars(ctx).clear()
        vars(ctx).update(vars(fresh))
        metrics.__init__(ctx)  # type: ignore[misc] # a new registry, hooked on the new services

    # The simulator's restart (issue #11): the same routes over fresh services, nothing of the
    # old ones kept, so a run need not rebuild FastAPI's per-app route state. Call it only
    # between a lifespan's shutdown and the next startup.
    app.state.rebind = rebind
    return app


def _context(  # noqa: PLR0913 - create_app's options, keyword-only
    service: TrackService,
    *,
    public_origin: str,
    clock: Clock | None,
    delivery: DeliveryService | None,
    annexes: AnnexService | None,
    replay: ReplayWindow | None,
    streams_per_member: int,
    language: LanguageService | None,
    inline: bool,
    notifier: Notifier | None,
) -> ApiContext:
    """The routes' shared state over ``service`` (the defaults as :func:`create_app` documents)."""
    chosen_clock = clock or SystemClock()
    if delivery is None:
        # the delivery service signs dead letters and escalations with the same node key
        delivery = DeliveryService(service, service.node, DeliveryPolicy(), clock=chosen_clock)
    auth = Authenticator(service, chosen_clock, public_origin, replay or ReplayWindow(DEFAULT_MAX_SKEW))
    return ApiContext(
        service,
        delivery=delivery,
        annexes=annexes or AnnexService(service),
        auth=auth,
        clock=chosen_clock,
        keepalive=KEEPALIVE_SECONDS,
        streams=StreamSlots(streams_per_member),
        language=language,
        inline=inline,
        notifier=notifier,
    )


class _Inline:
    """ASGI middleware: the app's blocking handlers run in the loop's own thread (:func:`inline_calls`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with inline_calls():
            await self.app(scope, receive, send)


def _lifespan(
    ctx: ApiContext, interval: float | None
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's lifespan: the ticker (unless ``interval`` is ``None``); at shutdown, the worker stops.

    Stopping the group committer's worker finishes the groups already queued and
    ends its thread (an app built and dropped, as the simulator does on every
    restart, leaves no thread behind). The committer still accepts work: the app
    served again, or called without its lifespan, starts a new worker.
    """

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ctx.notifier.start()
        task = None if interval is None else asyncio.create_task(_tick_loop(ctx, interval), name=_TICKER)
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await threaded(ctx.committer.stop_worker)
            ctx.notifier.stop()
            if (work := ctx.delivery.work) is not None:
                with contextlib.suppress(Exception):  # best effort: unreleased leases just expire
                    await threaded(work.release_all)

    return lifespan


_TICKER = "backchannel-delivery-ticker"
VERIFIERS = 2
"""Threads verifying command signatures before the group committer (ADR-0050)."""


async def _tick_loop(ctx: ApiContext, interval: float) -> None:
    """Tick the due tracks forever; outlive any failure, back off, and log it once (issue #8)."""
    failures = 0
    while True:
        try:
            wait = await threaded(_tick_due, ctx)
        except Exception:  # noqa: BLE001 - the ticker outlives any one failure
            failures += 1
            if failures == 1:
                _log.exception("the periodic work failed; backing off (logged once until it recovers)")
            await asyncio.sleep(min(_MAX_TICK_BACKOFF, interval * 2 ** min(failures, 16)))
            continue
        if failures:
            _log.warning("the periodic work recovered after %d failures", failures)
            failures = 0
        await asyncio.sleep(interval if wait is None else min(interval, max(0.01, wait)))


def _tick_due(ctx: ApiContext) -> float | None:
    """Run the periodic work of the tracks that are due (:class:`PeriodicWork`); seconds to the next."""
    result = ctx.periodic.tick(ctx.clock.now())
    if result.changed:
        ctx.changes.notify()
    return result.wait
