"""The operations console at ``/console/`` (ADR-0046, ADR-0047): HTML pages, one script, live over SSE.

- ``GET /console/signin?token=...``: exchange a one-time sign-in token made by
  ``backchannel console`` for an HttpOnly, SameSite=Strict session cookie, then
  303 to the overview (401 or 403 page naming what is wrong: expired, already
  used, bad signature, wrong origin, revoked key);
- ``GET /console/``: the overview (without a session: how to sign in);
- ``GET /console/tracks/{track}``: a track's page (404 unless the session's key
  is a usable member key of it, as for the API);
- ``GET /console/stream?view=...``: Server-Sent Events: ``event: view`` with the
  view's fresh HTML whenever it changed, ``event: fresh`` when it did not
  (a track at least every :data:`PUSH_SECONDS`, the overview every
  :data:`OVERVIEW_SECONDS`; soon after a commit, at most once per
  :data:`MIN_GAP`), and
  ``event: signedout`` when the session no longer reads;
- ``GET /console/static/{console.js,console.css}``: the assets, from package data;
- ``POST /console/signout``: drop the cookie.

Every page is read through :mod:`backchannel.api.console.model` with the
reader the session resolves, so the console sees what the API would show
that member and nothing else.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from backchannel.api.console.model import overview, track_view
from backchannel.api.console.pages import error_page, overview_html, page, signin_page, track_html
from backchannel.api.console.sessions import COOKIE, SESSION_LIFETIME, ConsoleSessions, Session
from backchannel.api.context import ApiContext, threaded
from backchannel.api.errors import problem_for
from backchannel.api.metrics import Metrics
from backchannel.errors import BackchannelError

__all__ = ["MIN_GAP", "OVERVIEW_SECONDS", "PUSH_SECONDS", "STREAM_LIFETIME", "ConsoleState", "router"]

PUSH_SECONDS = 1.0
"""A track's stream re-reads its view at least this often (liveness changes without any commit)."""
OVERVIEW_SECONDS = 5.0
"""The overview's stream re-reads at least this often (it changes with commits, which wake it at once)."""
MIN_GAP = 0.5
"""However busy the service, a stream renders at most once per this many seconds."""
STREAM_LIFETIME = 300.0
"""A stream ends after this many seconds; the script reconnects at once."""
_VIEW = re.compile(r"^/console/(?:tracks/(?P<track>[A-Za-z0-9][A-Za-z0-9._:-]{0,127}))?$")
_AGES = re.compile(r'(?:<time class="age read"[^>]*)?>[^<]*</time>')
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
_ASSETS = {"console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"}


@dataclass
class ConsoleState:
    """The console's sessions and its live stream count (``backchannel_console_clients``)."""

    sessions: ConsoleSessions
    clients: int = 0


class _Clients(Collector):
    def __init__(self, state: ConsoleState) -> None:
        self._state = state

    def collect(self) -> list[GaugeMetricFamily]:
        gauge = GaugeMetricFamily("backchannel_console_clients", "Console live streams (SSE) open now.")
        gauge.add_metric([], self._state.clients)
        return [gauge]


def router(ctx: ApiContext, public_origin: str, metrics: Metrics | None = None) -> APIRouter:  # noqa: C901 - one closure per route
    """The console's routes, bound to ``ctx`` (tokens must be made for ``public_origin``)."""
    state = ConsoleState(ConsoleSessions(ctx, public_origin))
    if metrics is not None:
        metrics.registry.register(_Clients(state))
    router = APIRouter(include_in_schema=False)

    @router.get("/console", response_class=RedirectResponse)
    async def bare() -> RedirectResponse:
        return RedirectResponse("/console/", status_code=308)

    @router.get("/console/signin", response_class=HTMLResponse)
    async def signin(request: Request, token: Annotated[str, Query(max_length=4096)] = "") -> Response:
        try:
            cookie, session = await threaded(state.sessions.exchange, token)
        except BackchannelError as e:
            return _problem_page(e, request)
        response = RedirectResponse("/console/", status_code=303, headers=_HEADERS)
        _set_cookie(response, cookie, session, secure=state.sessions.secure)
        return response

    @router.post("/console/signout")
    async def signout() -> RedirectResponse:
        response = RedirectResponse("/console/", status_code=303, headers=_HEADERS)
        response.delete_cookie(COOKIE, path="/console")
        return response

    @router.get("/console/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        if not request.cookies.get(COOKIE):
            return HTMLResponse(signin_page(), headers=_HEADERS)
        return await _page(ctx, state, request, "/console/")

    @router.get("/console/tracks/{track}", response_class=HTMLResponse)
    async def track_page(track: str, request: Request) -> Response:
        return await _page(ctx, state, request, f"/console/tracks/{track}")

    @router.get("/console/static/{name}")
    async def asset(name: str) -> Response:
        media = _ASSETS.get(name)
        if media is None:
            return Response("no such asset", status_code=404, media_type="text/plain")
        body = resources.files("backchannel.api.console").joinpath("static", name).read_bytes()
        return Response(body, media_type=media, headers={"Cache-Control": "no-cache"})

    @router.get("/console/stream")
    async def stream(request: Request, view: Annotated[str, Query(max_length=200)] = "/console/") -> Response:
        if _VIEW.match(view) is None:
            return Response(f"view: {view!r} is not a console page", status_code=422, media_type="text/plain")
        try:
            session = state.sessions.session(request.cookies.get(COOKIE))
        except BackchannelError as e:
            return _problem_page(e, request)
        return StreamingResponse(
            _events(ctx, state, request, session, view),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


def _set_cookie(response: Response, cookie: str, session: Session, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/console",
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    response.headers["X-Console-Member"] = session.member


def _problem_page(error: BaseException, request: Request) -> HTMLResponse:
    problem = problem_for(error, instance=request.url.path)
    title = "Sign-in refused" if problem.status == 401 else str(problem.body["title"])
    body = error_page(problem.status, title, str(problem.body["detail"]))
    return HTMLResponse(body, status_code=problem.status, headers=_HEADERS)


def _render(ctx: ApiContext, state: ConsoleState, session: Session, view: str) -> tuple[str, str]:
    """``(title, the view's <main> HTML)`` for ``session`` now (raises what the reads raise)."""
    match = _VIEW.match(view)
    assert match is not None
    track = match.group("track")
    if track is None:
        return "Tracks", overview_html(overview(ctx, state.sessions, session))
    track_state, reader = state.sessions.reader(session, track)
    return track, track_html(track_view(ctx, track_state, reader))


async def _page(ctx: ApiContext, state: ConsoleState, request: Request, view: str) -> Response:
    try:
        session = state.sessions.session(request.cookies.get(COOKIE))
        title, html = await threaded(_render, ctx, state, session, view)
    except BackchannelError as e:
        return _problem_page(e, request)
    now = ctx.clock.now()
    return HTMLResponse(page(title, html, now=now, view=view, who=session.member), headers=_HEADERS)


def _sse(event: str, data: dict[str, str]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _events(
    ctx: ApiContext, state: ConsoleState, request: Request, session: Session, view: str
) -> AsyncIterator[bytes]:
    state.clients += 1
    try:
        yield b"retry: 1000\n\n"
        deadline = time.monotonic() + STREAM_LIFETIME
        interval = OVERVIEW_SECONDS if view == "/console/" else PUSH_SECONDS
        last = ""
        while time.monotonic() < deadline:
            since = ctx.changes.generation
            try:
                session = state.sessions.session(request.cookies.get(COOKIE))
                _, html = await threaded(_render, ctx, state, session, view)
            except BackchannelError as e:
                yield _sse("signedout", {"detail": str(problem_for(e).body["detail"])})
                return
            now = ctx.clock.now().isoformat().replace("+00:00", "Z")
            content = _AGES.sub("></time>", html)  # ages tick in the browser: not a change
            yield _sse("view", {"html": html, "now": now}) if content != last else _sse("fresh", {"now": now})
            last = content
            if await request.is_disconnected():
                return
            await asyncio.sleep(MIN_GAP)
            await ctx.changes.wait(since, interval - MIN_GAP)
    finally:
        state.clients -= 1
