"""Witnesses: C2SP cosignatures of checkpoints (ADR-0019) and split-view alarms.

- ``POST /v1/tracks/{track}/checkpoints/{size}/cosignatures``: a witness's
  cosignature; a new one wakes the requests waiting for a cosigned checkpoint.
- ``POST /v1/tracks/{track}/split-views``: a witness's evidence that the log
  key signed two checkpoints that cannot both be true (witness parties only).
- ``GET /v1/tracks/{track}/split-views``: the alarms (any member of the track).

The rules are in :mod:`backchannel.service.witnesses`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse

from backchannel.api.context import (
    ApiContext,
    read_body,
    threaded,
)
from backchannel.api.schemas import (
    CosignatureRequestModel,
    CosignatureResponse,
    SplitViewModel,
    SplitViewRequestModel,
    SplitViewsResponse,
)
from backchannel.errors import EncodingError
from backchannel.log.canonical import loads_strict
from backchannel.service.witnesses import StoredSplitView

__all__ = ["router"]

_Size = Annotated[int, PathParam(ge=1, description="the tree size of the cosigned checkpoint")]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.post(
        "/v1/tracks/{track}/checkpoints/{size}/cosignatures",
        response_model=CosignatureResponse,
        status_code=201,
        responses={200: {"model": CosignatureResponse, "description": "An equal or newer one was kept"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": CosignatureRequestModel.model_json_schema()}},
            }
        },
    )
    async def post_cosignature(track: str, size: _Size, request: Request) -> JSONResponse:
        """Submit a witness's C2SP cosignature/v1 of the checkpoint of ``size`` (witness parties only)."""
        body = await read_body(request)
        status, response = await threaded(_add_cosignature, ctx, request, track, size, body)
        if status == 201:
            ctx.changes.notify()
        return JSONResponse(response.model_dump(mode="json"), status_code=status)

    @router.post(
        "/v1/tracks/{track}/split-views",
        response_model=SplitViewsResponse,
        status_code=201,
        responses={200: {"model": SplitViewsResponse, "description": "The same evidence was already kept"}},
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": SplitViewRequestModel.model_json_schema()}},
            }
        },
    )
    async def post_split_view(track: str, request: Request) -> JSONResponse:
        """Report a split view: two checkpoints signed by the log key that cannot both be true."""
        body = await read_body(request)
        status, response = await threaded(_report_split_view, ctx, request, track, body)
        if status == 201:
            ctx.changes.notify()
        return JSONResponse(response.model_dump(mode="json"), status_code=status)

    @router.get("/v1/tracks/{track}/split-views", response_model=SplitViewsResponse)
    async def get_split_views(track: str, request: Request) -> SplitViewsResponse:
        """The track's split-view alarms, oldest first (any member of the track)."""
        return await threaded(_split_views, ctx, request, track)

    return router


def _alarm(alarm: StoredSplitView) -> SplitViewModel:
    return SplitViewModel(
        reporter=alarm.reporter,
        reported=alarm.reported,
        old=alarm.old_note,
        new=alarm.new_note,
        reason=alarm.reason,
    )


def _report_split_view(
    ctx: ApiContext, request: Request, track: str, body: bytes
) -> tuple[int, SplitViewsResponse]:
    _, reader = ctx.auth.reader(request, track, body)
    data = loads_strict(body)
    if (
        not isinstance(data, dict)
        or set(data) != {"old", "new"}
        or not all(isinstance(data[k], str) for k in ("old", "new"))
    ):
        raise EncodingError(
            "a split-view report is a JSON object with exactly two string fields, 'old' and 'new'"
        )
    created, _ = ctx.witnesses.report_split_view(
        track, reader.member, reader.key_id, data["old"], data["new"], now=ctx.clock.now()
    )
    alarms = [_alarm(a) for a in ctx.witnesses.split_views(track)]
    return (201 if created else 200), SplitViewsResponse(track=track, split_views=alarms)


def _split_views(ctx: ApiContext, request: Request, track: str) -> SplitViewsResponse:
    ctx.auth.reader(request, track, b"")
    return SplitViewsResponse(track=track, split_views=[_alarm(a) for a in ctx.witnesses.split_views(track)])


def _add_cosignature(
    ctx: ApiContext, request: Request, track: str, size: int, body: bytes
) -> tuple[int, CosignatureResponse]:
    _, reader = ctx.auth.reader(request, track, body)
    data = loads_strict(body)
    if not isinstance(data, dict) or set(data) != {"cosignature"} or not isinstance(data["cosignature"], str):
        raise EncodingError(
            "a cosignature request is a JSON object with exactly one string field, 'cosignature'"
        )
    upload = ctx.witnesses.add(
        track, reader.member, reader.key_id, size, data["cosignature"], now=ctx.clock.now()
    )
    response = CosignatureResponse(
        track=track,
        size=size,
        cosigner=upload.cosignature.name,
        timestamp=upload.cosignature.timestamp,
        checkpoint=upload.note.to_text(),
    )
    return (201 if upload.created else 200), response
