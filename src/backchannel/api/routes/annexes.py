"""``PUT`` and ``GET /v1/tracks/{track}/annexes/{digest}``: annex blobs (ADR-0014).

An upload is at most the service's annex limit (413 naming it) and must hash to
the path's digest (422 on field ``digest``); 201 the first time the requester's
party uploads those bytes, 200 after. A blob is readable by its uploaders'
parties, the mediator and the parties a message naming it was delivered to;
anyone else gets the same 404 as for an unknown digest.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response

from backchannel.api.context import (
    ApiContext,
    read_body,
    threaded,
)
from backchannel.api.schemas import (
    AnnexResponse,
)
from backchannel.protocol.httpsig import content_digest

__all__ = ["router"]

_Digest = Annotated[
    str, PathParam(pattern="^[0-9a-f]{64}$", description="SHA-256 of the blob, 64 lowercase hex digits")
]
_BINARY = {"schema": {"type": "string", "format": "binary"}}


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.put(
        "/v1/tracks/{track}/annexes/{digest}",
        response_model=AnnexResponse,
        status_code=201,
        responses={200: {"model": AnnexResponse, "description": "Already uploaded by the requester's party"}},
        openapi_extra={"requestBody": {"required": True, "content": {"application/octet-stream": _BINARY}}},
    )
    async def put_annex(track: str, digest: _Digest, request: Request) -> JSONResponse:
        """Upload an annex blob (raw bytes, usually sealed) whose SHA-256 is ``digest``."""
        body = await read_body(request, ctx.annexes.max_bytes, "annex")
        status, response = await threaded(_put_annex, ctx, request, track, digest, body)
        return JSONResponse(response.model_dump(mode="json"), status_code=status)

    @router.get(
        "/v1/tracks/{track}/annexes/{digest}",
        response_class=Response,
        responses={
            200: {"content": {"application/octet-stream": _BINARY}, "description": "The blob as uploaded"}
        },
    )
    async def get_annex(track: str, digest: _Digest, request: Request) -> Response:
        """An annex blob, exactly as uploaded (404 unless the requester may read it)."""
        await read_body(request)
        data = await threaded(_get_annex, ctx, request, track, digest)
        headers = {"Content-Digest": content_digest(data), "Cache-Control": "no-store"}
        return Response(data, media_type="application/octet-stream", headers=headers)

    return router


def _put_annex(
    ctx: ApiContext, request: Request, track: str, digest: str, body: bytes
) -> tuple[int, AnnexResponse]:
    _, reader = ctx.auth.reader(request, track, body)
    upload = ctx.annexes.upload(track, reader.member, bytes.fromhex(digest), body)
    return (201 if upload.created else 200), AnnexResponse(track=track, digest=digest, size=upload.size)


def _get_annex(ctx: ApiContext, request: Request, track: str, digest: str) -> bytes:
    _, reader = ctx.auth.reader(request, track, b"")
    return ctx.annexes.fetch(track, reader.member, bytes.fromhex(digest))
