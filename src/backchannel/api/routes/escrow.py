"""``GET /v1/tracks/{track}/escrows/{escrow_id}``: an escrow and how far its release condition is (ADR-0017).

404 unless the requester's party may see it. Commands on escrows go through
``POST .../commands``; the lifespan ticker refunds expired escrows.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam

from backchannel.api.context import (
    ApiContext,
    read_body,
    threaded,
)
from backchannel.api.escrow_schemas import EscrowResponse, escrow_response

__all__ = ["router"]

_EscrowId = Annotated[str, PathParam(pattern="^[a-z0-9][a-z0-9._-]{0,63}$", description="The escrow's id")]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.get("/v1/tracks/{track}/escrows/{escrow_id}", response_model=EscrowResponse)
    async def get_escrow(track: str, escrow_id: _EscrowId, request: Request) -> EscrowResponse:
        """An escrow, its signatures and status, and how far its release condition is now (ADR-0017)."""
        await read_body(request)
        return await threaded(_escrow, ctx, request, track, escrow_id)

    return router


def _escrow(ctx: ApiContext, request: Request, track: str, escrow_id: str) -> EscrowResponse:
    """An escrow and its check now (404 unless the requester's party may see it)."""
    _, reader = ctx.auth.reader(request, track, b"")
    return escrow_response(ctx.escrows.status(track, escrow_id, reader.member))
