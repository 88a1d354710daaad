"""``backchannel.testing.server.running``: serves a real app, frees its port, and fails loudly."""

import contextlib
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from backchannel.api import create_app
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.server import running
from backchannel.testing.world import seeded_keys

NODE = seeded_keys(1, "qatar/service")
LOG_KEY = SigningKey.from_seed(b"\x09" * 32)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _failing_app(*, before: threading.Event | None = None) -> FastAPI:
    """An app whose startup raises (after ``before`` is set, if given)."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if before is not None:
            while not before.is_set():
                await _sleep()
        msg = "startup failed on purpose"
        raise RuntimeError(msg)
        yield  # pragma: no cover

    return FastAPI(lifespan=lifespan)


async def _sleep() -> None:
    import asyncio

    await asyncio.sleep(0.01)


def test_serves_a_real_app_and_frees_the_port(tmp_path: Path) -> None:
    store = SQLiteEventStore(tmp_path / "db.sqlite3")
    writer = LogWriter(store, NoteSigner("test.log", LOG_KEY))
    origins: list[str] = []

    def make(url: str) -> FastAPI:
        origins.append(url)
        return create_app(TrackService(writer, NODE), public_origin=url)

    try:
        with running(make, lifespan=True) as url:
            assert origins == [url]
            assert url.startswith("http://127.0.0.1:")
            response = httpx.get(url + "/v1/service")
            assert response.status_code == 200, response.text
            assert response.json()["log_key"] == writer.log_key
    finally:
        store.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/service")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as again:  # nothing listens there any more
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", _port(url)))
        again.listen()


def test_a_failing_startup_raises_instead_of_hanging() -> None:
    # uvicorn logs the error and sys.exit()s its thread; running notices the thread is gone
    with (
        pytest.raises(RuntimeError, match="exited before it started"),
        running(lambda _: _failing_app(), lifespan=True),
    ):
        pytest.fail("the server should not have started")  # pragma: no cover


def test_without_lifespan_the_startup_does_not_run() -> None:
    with running(lambda _: _failing_app(), lifespan=False) as url:
        assert httpx.get(url + "/nowhere").status_code == 404


def test_a_startup_that_does_not_finish_times_out() -> None:
    release = threading.Event()
    urls: list[str] = []

    def make(url: str) -> FastAPI:
        urls.append(url)
        return _failing_app(before=release)

    try:
        with (
            pytest.raises(TimeoutError, match=r"did not start within 0\.2 s"),
            running(make, lifespan=True, timeout=0.2),
        ):
            pytest.fail("the server should not have started")  # pragma: no cover
    finally:
        release.set()  # the startup then fails, and the thread exits
    (thread,) = (t for t in threading.enumerate() if t.name == f"uvicorn {urls[0]}")
    thread.join(timeout=10)
    assert not thread.is_alive()
