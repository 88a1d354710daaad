"""Forecasts on a live track (ADR-0045): ``POST``/``GET /v1/tracks/{track}/forecasts``, ``.../declarations``.

``POST`` asks the service to compute and record a forecast from the actor
positions in force (a principal or delegate of the mediator; anyone else 403
naming the rule). ``GET`` lists the forecasts the requester may see, each with
its age and staleness (a party: those shared with it). ``GET .../declarations``
shows the positions in force (the mediator's staff only). Declaring and sharing
are signed commands (``declare_actor_positions``, ``share_forecast``) sent to
``POST /v1/tracks/{track}/commands``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backchannel.api.context import ApiContext, read_body, threaded
from backchannel.service.forecasts import declarations_view, forecasts_view

__all__ = ["router"]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.post("/v1/tracks/{track}/forecasts", status_code=201)
    async def post_forecast(track: str, request: Request) -> JSONResponse:
        """Compute and record a forecast of the declared issues (mediator principals and delegates)."""
        body = await read_body(request)
        document = await threaded(_request, ctx, request, track, body)
        ctx.changes.notify()
        return JSONResponse(document, status_code=201)

    @router.get("/v1/tracks/{track}/forecasts")
    async def get_forecasts(track: str, request: Request) -> JSONResponse:
        """The forecasts the requester may see, newest first, each with its age and staleness."""
        await read_body(request)
        return JSONResponse(await threaded(_list, ctx, request, track))

    @router.get("/v1/tracks/{track}/forecasts/declarations")
    async def get_declarations(track: str, request: Request) -> JSONResponse:
        """The actor positions in force per issue, and every declaration (the mediator's staff only)."""
        await read_body(request)
        return JSONResponse(await threaded(_declarations, ctx, request, track))

    return router


def _request(ctx: ApiContext, request: Request, track: str, body: bytes) -> dict[str, object]:
    _, reader = ctx.auth.reader(request, track, body)
    result = ctx.forecasts.request(track, reader.member)
    (event,) = result.events  # record_forecast's one event: forecast.recorded
    forecast_id = event.command_digest.hex()
    state = ctx.state(track)
    views = forecasts_view(state, reader.member, ctx.clock.now())["forecasts"]
    assert isinstance(views, list)
    (view,) = [v for v in views if isinstance(v, dict) and v["forecast_id"] == forecast_id]
    return {"forecast_id": forecast_id, "index": result.first_index, "forecast": view}


def _list(ctx: ApiContext, request: Request, track: str) -> dict[str, object]:
    state, reader = ctx.auth.reader(request, track, b"")
    return dict(forecasts_view(state, reader.member, ctx.clock.now()))


def _declarations(ctx: ApiContext, request: Request, track: str) -> dict[str, object]:
    state, reader = ctx.auth.reader(request, track, b"")
    return dict(declarations_view(state, reader.member))
