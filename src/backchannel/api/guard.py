"""How the HTTP API is served: uvicorn with header and idle timeouts (issue #8).

uvicorn 0.54 closes an idle keep-alive connection after ``timeout_keep_alive``,
but has no timeout for a request's *headers*: 400 sockets that sent half a
request line were held open forever. :func:`uvicorn_config` builds the
``uvicorn.Config`` that ``serve`` and :func:`backchannel.testing.server.running`
use:

- a connection must deliver a request's complete headers within
  ``header_timeout`` seconds of connecting, or of its previous response (the
  h11 protocol subclass below closes it otherwise);
- an idle keep-alive connection is closed after ``idle_timeout`` seconds
  (uvicorn's ``timeout_keep_alive``);
- a request line plus headers is at most ``max_header_bytes`` (h11's
  ``max_incomplete_event_size``; h11 answers 400 past it);
- at most ``max_connections`` concurrent connections (uvicorn answers 503
  past it).

:func:`serve` runs a configuration and calls back once the port is bound
and listening (uvicorn's ``Server.started``), so ``backchannel serve`` says
"listening" only when it is true.

Streams are limited per member elsewhere
(:class:`~backchannel.service.limits.StreamSlots`). This module does not limit
request bodies (the app does, 413) and does not bind sockets.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "HEADER_TIMEOUT",
    "IDLE_TIMEOUT",
    "MAX_CONNECTIONS",
    "MAX_HEADER_BYTES",
    "SHUTDOWN_GRACE",
    "guarded_h11",
    "serve",
    "uvicorn_config",
]

HEADER_TIMEOUT = 10.0
"""Seconds a connection has to deliver a request's complete headers."""
IDLE_TIMEOUT = 5.0
"""Seconds an idle keep-alive connection stays open."""
MAX_HEADER_BYTES = 32 * 1024
"""The largest request line plus headers."""
MAX_CONNECTIONS = 1024
"""The most concurrent connections (and tasks) uvicorn serves before answering 503."""


class _GuardedH11(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request headers do not arrive in time."""

    header_timeout = HEADER_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        cycle: Any = self.cycle  # None until the first request (uvicorn types it as always set)
        if self._header_timer is None and (cycle is None or cycle.response_complete):
            self._arm_header_timer()  # a new request starts on a kept-alive connection
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """Begin a graceful shutdown; a response already streaming (an event stream) is cut at once.

        Closing the connection tells the app its client left (ASGI ``http.disconnect``), so an
        event stream, which never ends by itself, ends cleanly and its client reconnects to the
        next server; a request not yet answered still finishes.
        """
        cycle: Any = self.cycle
        streaming = cycle is not None and cycle.response_started and not cycle.response_complete
        super().shutdown()
        if streaming and not self.transport.is_closing():
            self.transport.close()

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late, self.scope)

    def _headers_late(self, scope_when_armed: object) -> None:
        self._header_timer = None
        if self.scope is scope_when_armed and not self.transport.is_closing():
            self.transport.close()  # no complete request headers since the timer was armed


def guarded_h11(header_timeout: float = HEADER_TIMEOUT) -> type[H11Protocol]:
    """The h11 protocol class with a header timeout of ``header_timeout`` seconds."""
    return type("GuardedH11Protocol", (_GuardedH11,), {"header_timeout": header_timeout})


SHUTDOWN_GRACE = 2
"""Seconds a stopping server waits for open requests (event streams never end by themselves) before
cancelling them (the console and inbox streams reconnect to the next server)."""


def uvicorn_config(
    app: Any,  # noqa: ANN401 - any ASGI app uvicorn accepts
    *,
    header_timeout: float = HEADER_TIMEOUT,
    idle_timeout: float = IDLE_TIMEOUT,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_connections: int = MAX_CONNECTIONS,
    **options: Any,  # noqa: ANN401 - passed to uvicorn.Config as given (host, port, lifespan, ...)
) -> uvicorn.Config:
    """A ``uvicorn.Config`` for ``app`` with the timeouts and limits above.

    Args:
        app: The ASGI app.
        header_timeout: Seconds to deliver a request's complete headers.
        idle_timeout: Seconds an idle keep-alive connection stays open.
        max_header_bytes: The largest request line plus headers.
        max_connections: The most concurrent connections.
        **options: Other ``uvicorn.Config`` options (``host``, ``port``, ``lifespan``, ``log_level``).

    Returns:
        The configuration.
    """
    options.setdefault("timeout_graceful_shutdown", SHUTDOWN_GRACE)  # open event streams end, then stop
    return uvicorn.Config(
        app,
        http=guarded_h11(header_timeout),
        timeout_keep_alive=max(1, round(idle_timeout)),
        h11_max_incomplete_event_size=max_header_bytes,
        limit_concurrency=max_connections,
        **options,
    )


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls back with the bound address once it listens."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[str, int], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            host, port = self.servers[0].sockets[0].getsockname()[:2]
            self._on_started(str(host), int(port))


def serve(config: uvicorn.Config, on_started: Callable[[str, int], None]) -> None:
    """Run ``config`` until stopped; call ``on_started(host, port)`` once the socket listens.

    Raises:
        SystemExit: uvicorn could not start (e.g. the port is taken); ``on_started`` was not called.
    """
    _AnnouncingServer(config, on_started).run()
