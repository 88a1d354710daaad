"""``POST /v1/tracks/{track}/checkpoints/{size}/cosignatures``: a witness's C2SP cosignature (ADR-0019).

Witness parties only (:mod:`backchannel.service.witnesses`); a new cosignature
wakes the requests waiting for a cosigned checkpoint.
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
)
from backchannel.errors import EncodingError
from backchannel.log.canonical import loads_strict

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

    return router


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
