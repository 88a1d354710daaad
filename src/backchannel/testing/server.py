"""Serve an ASGI app under uvicorn in a background thread, for tests that talk real HTTP.

The server is configured as ``backchannel serve`` configures it
(:func:`backchannel.api.guard.uvicorn_config`: header and idle timeouts).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import uvicorn

from backchannel.api.guard import HEADER_TIMEOUT, uvicorn_config

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from starlette.types import ASGIApp

__all__ = ["free_port", "running", "serve_process"]

_POLL = 0.01


@contextlib.contextmanager
def running(
    make_app: Callable[[str], ASGIApp],
    *,
    lifespan: bool = False,
    timeout: float = 10.0,
    header_timeout: float = HEADER_TIMEOUT,
) -> Iterator[str]:
    """Serve ``make_app(url)`` on a free ``127.0.0.1`` port in a daemon thread; yield ``url``.

    The socket is bound before the app is built, so the app can be given its own
    URL (as ``public_origin``). On exit the server is asked to stop, its thread
    (named ``uvicorn <url>``) is joined (up to ``timeout``) and the socket closed,
    so the port is free again.

    Args:
        make_app: Builds the app from the URL it will be served at (``http://127.0.0.1:<port>``).
        lifespan: Run the app's lifespan (startup/shutdown events, e.g. a ticker).
        timeout: Seconds to wait for the server to start, and for it to stop.
        header_timeout: Seconds a connection has to deliver a request's headers.

    Raises:
        RuntimeError: the server exited before it started (e.g. the app's startup failed).
        TimeoutError: the server did not start within ``timeout``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn_config(
            make_app(url),
            header_timeout=header_timeout,
            log_level="warning",
            lifespan="on" if lifespan else "off",
        )
        server = uvicorn.Server(config)
        exits: list[SystemExit] = []
        thread = threading.Thread(
            target=_serve, args=(server, sock, exits), name=f"uvicorn {url}", daemon=True
        )
        thread.start()
        try:
            _wait_started(server, thread, exits, timeout)
            yield url
        finally:
            server.should_exit = True
            thread.join(timeout=timeout)
    finally:
        sock.close()


def free_port() -> int:
    """A TCP port on ``127.0.0.1`` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve_process(
    argv: list[str],
    url: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``backchannel serve`` (``argv``) as a process until ``url`` answers; stop it by its PID on exit.

    The process is asked to stop with SIGTERM (killed after 15 s if it does not). Its
    output is discarded.

    Raises:
        RuntimeError: the process exited before ``url/v1/service`` answered.
        TimeoutError: it did not answer within ``timeout``.
    """
    proc = subprocess.Popen(  # noqa: S603 - the caller's own command line, in its tests
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(url):
            if proc.poll() is not None:
                msg = f"serve exited early with status {proc.returncode}"
                raise RuntimeError(msg)
            if time.monotonic() >= deadline:
                msg = f"serve did not answer at {url} within {timeout} s"
                raise TimeoutError(msg)
            time.sleep(0.05)
        yield proc
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/v1/service", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _serve(server: uvicorn.Server, sock: socket.socket, exits: list[SystemExit]) -> None:
    """Run ``server`` on ``sock``, keeping the ``SystemExit`` uvicorn raises when startup fails."""
    try:
        server.run(sockets=[sock])
    except SystemExit as exit_:  # not left to the thread (pytest would report it as unhandled)
        exits.append(exit_)


def _wait_started(
    server: uvicorn.Server, thread: threading.Thread, exits: list[SystemExit], timeout: float
) -> None:
    """Block until ``server`` has started; raise if its thread ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive():
            code = exits[0].code if exits else None
            msg = f"uvicorn exited before it started (exit code {code}; its log says why)"
            raise RuntimeError(msg) from (exits[0] if exits else None)
        if time.monotonic() >= deadline:
            msg = f"uvicorn did not start within {timeout} s"
            raise TimeoutError(msg)
        time.sleep(_POLL)
