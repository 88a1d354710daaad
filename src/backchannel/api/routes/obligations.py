"""``GET /v1/tracks/{track}/obligations/{id}``: an obligation's terms, level, tokens, ladder (ADR-0018).

For the mediator, the bound party, inspectors and the parties it is shared
with; anyone else gets the 404 of an unknown id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from backchannel.api.context import (
    ApiContext,
    read_body,
    threaded,
)
from backchannel.api.schemas import (
    ObligationResponse,
)
from backchannel.service.obligations import obligation_view

__all__ = ["router"]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.get("/v1/tracks/{track}/obligations/{obligation}", response_model=ObligationResponse)
    async def get_obligation(track: str, obligation: str, request: Request) -> ObligationResponse:
        """An obligation's terms, current level and tokens, and its ladder history (ADR-0018)."""
        await read_body(request)
        return await threaded(_obligation, ctx, request, track, obligation)

    return router


def _obligation(ctx: ApiContext, request: Request, track: str, obligation: str) -> ObligationResponse:
    state, reader = ctx.auth.reader(request, track, b"")
    return ObligationResponse.model_validate(
        obligation_view(state, reader.member, obligation, ctx.clock.now())
    )
