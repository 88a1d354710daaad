"""The simulated service node: the real services on one store, rebuilt on a crash.

:class:`SimNode` assembles what ``backchannel serve`` runs (track service,
delivery, annexes, the replay window and the HTTP app) on a
:class:`~backchannel.store.memory.MemoryEventStore` or a temporary SQLite file,
with seeded keys, seeded leaf salts and the run's virtual clock. The HTTP app is
built by an :data:`AppFactory` the caller passes (``backchannel.api.create_app``:
this package may not import the API, so the composition root hands it in).
:meth:`SimNode.crash` drops every in-memory service object; :meth:`SimNode.restart`
rebuilds them from the same store, as a restarted process would.

This module does not simulate the network (:mod:`backchannel.sim.network` does)
and does not decide when to crash (the fault schedule does).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from backchannel.broker import DeliveryPolicy, PresenceStatus
from backchannel.clock import Clock
from backchannel.errors import StorageError
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import AgreementKey, SigningKey
from backchannel.protocol.httpsig import DEFAULT_MAX_SKEW
from backchannel.protocol.keyfile import KeyPair
from backchannel.service.admission import Admission
from backchannel.service.annexes import AnnexService
from backchannel.service.deals import DealService
from backchannel.service.delivery import DeliveryService
from backchannel.service.log import LogWriter
from backchannel.service.replay import ReplayWindow
from backchannel.service.tracks import TrackService
from backchannel.sim.clock import VirtualClock
from backchannel.store.base import AppendBatch, EventStore
from backchannel.store.memory import MemoryEventStore
from backchannel.store.sqlite import SQLiteEventStore

__all__ = ["ORIGIN", "AppFactory", "FlakySQLiteStore", "FlakyStore", "SimNode", "seeded_key"]

ORIGIN = "http://sim.backchannel.invalid"
"""The public origin the simulated service signs and checks request targets for."""

LOG_NAME = "sim.backchannel.invalid/log"


class AppFactory(Protocol):
    """Builds the HTTP app around the services (``backchannel.api.create_app`` fits)."""

    def __call__(  # noqa: D102, PLR0913 - the protocol's one call, create_app's keywords
        self,
        service: TrackService,
        *,
        public_origin: str,
        clock: Clock | None = ...,
        delivery: DeliveryService | None = ...,
        annexes: AnnexService | None = ...,
        replay: ReplayWindow | None = ...,
        tick_interval: float | None = ...,
        inline: bool = ...,
    ) -> Any: ...  # noqa: ANN401 - an ASGI application


def seeded_key(name: str, seed: bytes) -> KeyPair:
    """Deterministic Ed25519 and X25519 keys for ``name`` from a 32-byte ``seed`` (simulation only)."""
    return KeyPair(name, SigningKey.from_seed(seed), AgreementKey.from_private_bytes(seed[::-1]))


class FlakyStore(MemoryEventStore):
    """A memory store whose appends fail on command (the "store write fails mid-append" fault).

    An append asked to fail raises :class:`~backchannel.errors.StorageError`
    before anything is written: the store's appends are atomic, so a failure
    part-way leaves nothing behind, which is what this models.
    """

    def __init__(self) -> None:
        """Create an empty store with no failure armed."""
        super().__init__()
        self.fail_next = 0

    def append(self, batch: AppendBatch, expected_size: int) -> None:
        """Append ``batch``, unless a failure is armed (then raise and write nothing)."""
        if self.fail_next > 0:
            self.fail_next -= 1
            raise StorageError("simulated: the store write failed mid-append (rolled back)")
        super().append(batch, expected_size)


class FlakySQLiteStore(SQLiteEventStore):
    """A SQLite store whose appends fail on command, like :class:`FlakyStore` (nothing is written)."""

    def __init__(self, path: Path) -> None:
        """Open the database at ``path`` with no failure armed."""
        super().__init__(path)
        self.fail_next = 0

    def append(self, batch: AppendBatch, expected_size: int) -> None:
        """Append ``batch``, unless a failure is armed (then raise and write nothing)."""
        if self.fail_next > 0:
            self.fail_next -= 1
            raise StorageError("simulated: the store write failed mid-append (rolled back)")
        super().append(batch, expected_size)


class SimNode:
    """The service side of a run.

    Args:
        make_app: Builds the HTTP app (``backchannel.api.create_app``).
        clock: The run's virtual clock.
        salts: The seeded source of leaf salts.
        key_seed: 32 bytes the node and log keys are derived from.
        policy: The delivery policy.
        sqlite: A path for a SQLite store (:class:`FlakySQLiteStore`; ``None``: a
            :class:`FlakyStore` in memory).
        store: A store to use instead (tests pass a deliberately broken one).
    """

    def __init__(  # noqa: PLR0913 - the node's parts, keyword-only after the factory
        self,
        make_app: AppFactory,
        *,
        clock: VirtualClock,
        salts: Callable[[int], bytes],
        key_seed: bytes,
        policy: DeliveryPolicy | None = None,
        sqlite: Path | None = None,
        store: EventStore | None = None,
    ) -> None:
        """Open the store and start the services."""
        self._make_app = make_app
        self.clock = clock
        self._salts = salts
        self.keys = seeded_key("backchannel/service", key_seed)
        self._signer = NoteSigner(LOG_NAME, SigningKey.from_seed(key_seed[::-1]))
        self._policy = policy or DeliveryPolicy()
        self.store: EventStore = store or (FlakySQLiteStore(sqlite) if sqlite else FlakyStore())
        self.restarts = 0
        self.pump = _idle_pump()
        self.loop = self.pump.loop
        self._lifespan: _Lifespan | None = None
        self.app: Any = None
        self._shell: Any = None  # the app of the last (crashed) start, kept for a rebind
        self.tracks: TrackService | None = None
        self.delivery: DeliveryService | None = None
        self.deals: DealService | None = None
        self.restart()

    @property
    def up(self) -> bool:
        """Whether the service is running."""
        return self.app is not None

    @property
    def log_key(self) -> str:
        """The log's verifier key text."""
        return self._signer.verifier.to_vkey()

    def crash(self) -> None:
        """Stop at once: every in-memory object is dropped; only the store remains.

        The app's lifespan is shut down (nothing is queued in a simulated run; this
        ends the group committer's thread). A store with an ``on_crash()`` method
        is told (a store modelling volatile, unsynced writes drops them there; tests use it).
        """
        if self._lifespan is not None:
            self._lifespan.stop()
            self._lifespan = None
        self._shell, self.app = self.app, None
        self.tracks = self.delivery = self.deals = None
        on_crash = getattr(self.store, "on_crash", None)
        if callable(on_crash):
            on_crash()

    def restart(self) -> None:
        """(Re)build every service from the store, as a fresh process would."""
        writer = LogWriter(self.store, self._signer, clock=self.clock, salts=self._salts)
        tracks = TrackService(writer, self.keys, clock=self.clock, admission=Admission.unsafe_open_to_all())
        delivery = DeliveryService(tracks, self.keys, self._policy, clock=self.clock)
        now = self.clock.now()
        start = datetime.fromtimestamp(math.ceil(now.timestamp()), tz=UTC)
        self.clock.advance((start - now).total_seconds())  # requests signed before the start are refused
        replay = ReplayWindow(DEFAULT_MAX_SKEW, not_before=start if self.restarts else None)
        shell = self._shell or _spare(self._make_app)
        rebind = getattr(getattr(shell, "state", None), "rebind", None)
        if callable(rebind):  # the same routes over the fresh services: nothing of the old ones is kept
            rebind(tracks, clock=self.clock, delivery=delivery, annexes=AnnexService(tracks), replay=replay)
            self.app = shell
        else:
            self.app = self._make_app(
                tracks,
                public_origin=ORIGIN,
                clock=self.clock,
                delivery=delivery,
                annexes=AnnexService(tracks),
                replay=replay,
                tick_interval=None,  # the simulator ticks on virtual time (:meth:`tick`)
                inline=True,  # no thread pool, no committer thread: one request at a time (ADR-0043)
            )
        self._shell = None
        self._lifespan = _Lifespan(self.app, self.loop)
        self.tracks, self.delivery = tracks, delivery
        self.deals = DealService(tracks, self.keys, clock=self.clock)
        self.restarts += 1

    def arm_store_failure(self) -> None:
        """Make the store's next append fail (the flaky stores only; a store passed in ignores it)."""
        if isinstance(self.store, FlakyStore | FlakySQLiteStore):
            self.store.fail_next = 1

    def tick(self, track: str) -> None:
        """Run the due work: redeliveries, dead letters, escalations, and deals past their deadline."""
        if self.delivery is not None and self.deals is not None:
            self.delivery.tick(track, self.clock.now())
            self.deals.tick(track, self.clock.now())

    def silent(self, track: str) -> list[str]:
        """The parties the service shows silent now (heart-beat before, none within the window)."""
        if self.delivery is None:
            return []
        return [p.party for p in self.delivery.presence(track) if p.status is PresenceStatus.SILENT]

    def close(self) -> None:
        """Stop the app and close the store; the idle app and event loop are kept for the next node."""
        if self.up:
            self.crash()
        if self._shell is not None:
            _SPARES.setdefault(self._make_app, []).append(self._shell)
            self._shell = None
        _PUMPS.append(self.pump)  # idle: the next node of this process reuses it and its worker threads
        self.store.close()


_PUMPS: list[Pump] = []
"""Idle pumps of closed nodes. Their worker threads outlive a run, so they are ended before the
interpreter waits for its threads at exit (``threading._register_atexit``, as concurrent.futures does)."""


def _idle_pump() -> Pump:
    """An idle pump of this process, or a new one.

    A forked worker never reuses its parent's: the parent's worker threads do not exist in the child.
    """
    while _PUMPS:
        pump = _PUMPS.pop()
        if pump.pid == os.getpid():
            return pump
        _FOREIGN.append(pump)
    return Pump()


_FOREIGN: list[Pump] = []
"""Pumps a forked worker inherited: never run (their loop is the parent's) nor collected (collecting
one would close its loop under its pending task and log "Task was destroyed but it is pending")."""


def _close_pumps() -> None:
    while _PUMPS:
        pump = _PUMPS.pop()
        if pump.pid == os.getpid():
            pump.close()


threading._register_atexit(_close_pumps)  # type: ignore[attr-defined] # noqa: SLF001 - see _PUMPS


_SPARES: dict[AppFactory, list[Any]] = {}
"""Apps of closed nodes, per factory, whose lifespan has shut down: the next node rebinds one."""


def _spare(make_app: AppFactory) -> Any:  # noqa: ANN401 - an ASGI application or None
    """An app a closed node left (with ``state.rebind``), or ``None``.

    FastAPI builds each app's route state on first use (about 0.3 s): an app that
    can take fresh services (``app.state.rebind``, see ``backchannel.api.create_app``)
    is reused by the next node of this process rather than built again. Its routes
    hold no state of their own; every service behind them is new.
    """
    spares = _SPARES.get(make_app)
    return spares.pop() if spares else None


async def _exchange(app: Any, request: httpx.Request) -> tuple[httpx.Response, bytes]:  # noqa: ANN401
    """One HTTP exchange with an ASGI app, in process (what ``httpx.ASGITransport`` does, leaner).

    The request body is sent whole; the app's exceptions propagate. Unlike
    ``httpx.ASGITransport`` it does not look for trio on every request (a failed
    import each time, about a tenth of a simulated request).
    """
    body = request.read()
    done = asyncio.Event()
    sent = False
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await done.wait()
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    url = request.url
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
        "headers": [(k.lower(), v) for k, v in request.headers.raw], "scheme": url.scheme,
        "path": url.path, "raw_path": url.raw_path.split(b"?")[0], "query_string": url.query,
        "server": (url.host, url.port), "client": ("127.0.0.1", 123), "root_path": "",
    }  # fmt: skip
    await app(scope, receive, send)
    content = b"".join(chunks)
    return httpx.Response(status, headers=headers, content=content, request=request), content


class Pump:
    """A private event loop and one long-lived task that serves every request on it, in order.

    Each request runs inside the same task (:meth:`call` runs the loop until its
    answer is ready), so the thread pool the app's ``run_in_threadpool`` uses is
    rooted on that task and its worker threads live as long as the pump, instead
    of being started and stopped once per request (a fresh ``run_until_complete``
    per request makes each its own root task). :meth:`close` ends the task, and
    with it the workers.
    """

    def __init__(self) -> None:
        """Create the loop and start the serving task."""
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue[tuple[Any, httpx.Request, asyncio.Future[tuple[httpx.Response, bytes]]]]
        self._queue = asyncio.Queue()
        self._task = self.loop.create_task(self._serve())

    async def _serve(self) -> None:
        while True:
            app, request, answer = await self._queue.get()
            try:
                answer.set_result(await _exchange(app, request))
            except Exception as e:  # noqa: BLE001 - handed to the caller, who raises it
                answer.set_exception(e)

    def call(self, app: Any, request: httpx.Request) -> tuple[httpx.Response, bytes]:  # noqa: ANN401 - ASGI
        """Run ``request`` through ``app`` to completion; return the response and its body."""
        answer: asyncio.Future[tuple[httpx.Response, bytes]] = self.loop.create_future()
        answer.add_done_callback(lambda _: self.loop.stop())
        self._queue.put_nowait((app, request, answer))
        self.loop.run_forever()
        return answer.result()

    def close(self) -> None:
        """End the serving task (its worker threads stop with it) and close the loop."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self._task)
        self.loop.close()


class _Lifespan:
    """The ASGI lifespan of one app, started now and stopped on :meth:`stop` (on ``loop``)."""

    def __init__(self, app: Any, loop: asyncio.AbstractEventLoop) -> None:  # noqa: ANN401 - an ASGI app
        self._loop = loop
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        self._task = loop.create_task(app(scope, self._inbox.get, self._outbox.put))
        self._exchange("lifespan.startup")

    def _exchange(self, message: str) -> None:
        self._inbox.put_nowait({"type": message})
        answer = self._loop.run_until_complete(self._outbox.get())
        if answer["type"] != f"{message}.complete":
            raise StorageError(f"simulated node: {message} failed: {answer.get('message', answer['type'])}")

    def stop(self) -> None:
        """Shut the app down and wait for its lifespan to end."""
        self._exchange("lifespan.shutdown")
        self._loop.run_until_complete(self._task)
