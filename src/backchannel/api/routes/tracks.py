"""``GET /v1/service``: the service node's key (what ``open_track`` names) and the log key.

Unauthenticated. Tracks themselves are opened by the ``open_track`` command
(``POST .../commands``).
"""

from __future__ import annotations

from fastapi import APIRouter

from backchannel.api.context import (
    ApiContext,
)
from backchannel.api.schemas import (
    ServiceInfo,
    ServiceKey,
)
from backchannel.log.signing import b64encode

__all__ = ["router"]


def router(ctx: ApiContext) -> APIRouter:
    """The routes of this capability, bound to ``ctx``."""
    router = APIRouter()

    @router.get("/v1/service", response_model=ServiceInfo)
    def get_service() -> ServiceInfo:
        """The service node's key (what ``open_track`` names) and the log key. Unauthenticated."""
        return _service_info(ctx)

    return router


def _service_info(ctx: ApiContext) -> ServiceInfo:
    node = ctx.service.node_key
    return ServiceInfo(
        service_key=ServiceKey(
            key_id=node.key_id,
            ed25519=b64encode(node.public_bytes),
            x25519=b64encode(ctx.service.node_agreement_key),
        ),
        log_key=ctx.service.log_key,
    )
