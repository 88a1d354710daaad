"""Operating the service: ``/metrics``, ``/healthz`` and ``/readyz`` (ADR-0029).

- ``GET /healthz``: 200 ``{"status": "ok"}`` while the process answers. Unauthenticated.
- ``GET /readyz``: 200 when the store answers and the start-up integrity
  check has run (:mod:`backchannel.service.integrity`), listing the tracks it
  set aside, by id, with the first bad index and why (the healthy tracks are
  served); 503 with the reason otherwise. Unauthenticated: track ids are not
  secret (every track route answers 404 for an unknown one before any
  signature check).
- ``GET /metrics``: the Prometheus text exposition (:mod:`backchannel.api.metrics`).
  With a metrics token (``serve --metrics-token``), a request must carry
  ``Authorization: Bearer <token>``; without one, only loopback clients
  (``127.0.0.0/8``, ``::1``) may scrape. Anyone else gets 401 (``unauthenticated``).

This module does not count anything itself.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from backchannel.api.context import ApiContext, threaded
from backchannel.api.errors import AuthenticationError
from backchannel.api.metrics import Metrics
from backchannel.errors import StorageError

__all__ = ["readiness", "router"]


def router(ctx: ApiContext, metrics: Metrics, *, token: str | None = None) -> APIRouter:
    """The operations routes, bound to ``ctx`` and ``metrics`` (``token``: see the module docstring)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", include_in_schema=False)
    def get_healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz", include_in_schema=False)
    async def get_readyz() -> JSONResponse:
        """Ready to serve: the store answers and the start-up integrity check has run (503 if not)."""
        ready, body = await threaded(readiness, ctx)
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", response_class=Response, include_in_schema=False)
    async def get_metrics(request: Request) -> Response:
        """The Prometheus text exposition (a bearer token, or loopback only without one)."""
        _check_scraper(request, token)
        return Response(await threaded(metrics.render), media_type=CONTENT_TYPE_LATEST)

    return router


def readiness(ctx: ApiContext) -> tuple[bool, dict[str, object]]:
    """Whether the service is ready, and the body ``/readyz`` answers with."""
    service = ctx.service
    try:
        tracks = service.store.list_tracks()
    except StorageError as e:
        return False, {"status": "not ready", "reason": f"the store does not answer: {e}"}
    report = service.integrity
    if report is None:
        return False, {"status": "not ready", "reason": "the start-up integrity check has not run"}
    damaged = [
        {"track": track, "index": index, "reason": reason}
        for track, (index, reason) in sorted(report.damaged.items())
    ]
    return True, {
        "status": "degraded" if damaged else "ready",
        "tracks": len(tracks),
        "served": len(tracks) - len(damaged),
        "damaged": damaged,
        "full_check": report.full,
    }


def _check_scraper(request: Request, token: str | None) -> None:
    if token is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise AuthenticationError("/metrics needs the metrics token: Authorization: Bearer <token>")
        return
    host = request.client.host if request.client is not None else ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise AuthenticationError(
            f"/metrics answers loopback clients only, not {host or 'an unknown client'} "
            "(start the service with --metrics-token to scrape it from elsewhere)"
        )
