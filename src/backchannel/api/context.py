"""What every route of the API shares: the services, the clock, the authenticator, the wake-ups.

:class:`ApiContext` is built once by :func:`backchannel.api.app.create_app` and
handed to each capability's router (:mod:`backchannel.api.routes`).
:class:`Changes` wakes the streams and long polls waiting on any event loop
when queues may have changed. :func:`read_body` reads a request body within a
limit (413 beyond it); :func:`threaded` runs blocking work in the thread pool
(in the caller's thread inside :func:`inline_calls`: the simulator's mode, ADR-0043).

This module does not define routes and holds no delivery state (leases belong
to :class:`~backchannel.service.delivery.DeliveryService`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from backchannel.api.auth import Authenticator
from backchannel.api.errors import PayloadTooLargeError
from backchannel.api.schemas import LogEntryModel
from backchannel.clock import Clock
from backchannel.domain import PartyKind, TrackState, event_from_dict, visible_to
from backchannel.errors import BackchannelError, NotFoundError
from backchannel.log.records import LogEntry
from backchannel.log.signing import b64encode
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.wire import SignedCommand
from backchannel.service.annexes import AnnexService
from backchannel.service.committer import GroupCommitter
from backchannel.service.coordination import CoordinationService, delivery_liveness
from backchannel.service.deals import DealService
from backchannel.service.delivery import DeliveryService
from backchannel.service.escrow import EscrowService
from backchannel.service.forecasts import ForecastService
from backchannel.service.language import LanguageService
from backchannel.service.limits import StreamSlots
from backchannel.service.notifier import LocalNotifier, Notifier
from backchannel.service.obligations import ObligationService
from backchannel.service.replay import ReplayWindow
from backchannel.service.schedule import PeriodicWork
from backchannel.service.sync_committer import SyncCommitter
from backchannel.service.texts import TextService
from backchannel.service.tracks import CommandResult, TrackService
from backchannel.service.witnesses import CosignatureService

__all__ = [
    "MAX_BATCH_BODY_BYTES",
    "MAX_BATCH_COMMANDS",
    "MAX_BODY_BYTES",
    "MAX_PAGE",
    "RECHECK_SECONDS",
    "ApiContext",
    "Changes",
    "inline_calls",
    "read_body",
    "threaded",
    "visible",
]

_log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
"""The largest request body (one command, or a read): 1 MiB."""
MAX_BATCH_BODY_BYTES = 8 << 20
"""The largest batch request body."""
MAX_BATCH_COMMANDS = 1024
"""The most commands in one batch request."""
MAX_PAGE = 1000
"""The most entries or leaves one read returns."""
RECHECK_SECONDS = 1.0
"""A stream or long poll re-checks its queue at least this often (redeliveries after backoff)."""

T = TypeVar("T")


class Changes:
    """Wakes waiting streams and long polls (on any event loop) when queues may have changed."""

    def __init__(self) -> None:
        """Start at generation 0, with no waiter."""
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def generation(self) -> int:
        """How many changes were announced so far."""
        with self._lock:
            return self._generation

    def notify(self) -> None:
        """Announce a change: wake every waiter."""
        with self._lock:
            self._generation += 1
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: its waiter is gone
                loop.call_soon_threadsafe(event.set)

    async def wait(self, since: int, seconds: float) -> None:
        """Return after a change later than generation ``since``, or after ``seconds``."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            if self._generation != since:
                return
            self._waiters.add(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter[1].wait(), max(0.0, seconds))
        finally:
            with self._lock:
                self._waiters.discard(waiter)


class ApiContext:
    """The routes' shared state: the services, the clock, the authenticator and the wake-ups.

    Args:
        service: The track service.
        delivery: The delivery service over it.
        annexes: The annex service over it.
        auth: The RFC 9421 authenticator.
        clock: The clock the services and the authenticator read.
        keepalive: How often a stream with nothing to send sends a comment line (s).
        streams: The per-member limit on open inbox streams (issue #8).
        language: The language aid's service (default: built on first use; ADR-0045).
        inline: Commit in the caller's thread (:class:`SyncCommitter`), not on a
            group committer's worker thread: the simulator's mode (ADR-0043).
        notifier: How this node learns of changes, its own and other nodes'
            (default: its own only; ADR-0059).
    """

    def __init__(  # noqa: PLR0913 - the services, keyword-only after the first
        self,
        service: TrackService,
        *,
        delivery: DeliveryService,
        annexes: AnnexService,
        auth: Authenticator,
        clock: Clock,
        keepalive: float,
        streams: StreamSlots,
        language: LanguageService | None = None,
        inline: bool = False,
        notifier: Notifier | None = None,
    ) -> None:
        """Build the per-capability services over ``service``."""
        self.service = service
        self.delivery = delivery
        self.coordination = CoordinationService(
            service, service.node, clock=clock, liveness=delivery_liveness(delivery)
        )
        self.committer: GroupCommitter | SyncCommitter
        self.committer = SyncCommitter(self._commit) if inline else GroupCommitter(self._commit)
        self.annexes = annexes
        self.deals = DealService(service, service.node, clock=clock)  # prepare deadlines (issue #4)
        self.escrows = EscrowService(service, service.node, clock=clock)
        self.witnesses = CosignatureService(service)
        self.texts = TextService(service)
        self.obligations = ObligationService(service, service.node, clock=clock)
        self.forecasts = ForecastService(service, service.node, clock=clock)  # ADR-0045
        self.language = language or LanguageService()
        self.auth = auth
        self.clock = clock
        self.changes = Changes()
        self.keepalive = keepalive
        self.streams = streams
        self.periodic = PeriodicWork(
            service, deals=self.deals, delivery=delivery, escrows=self.escrows, obligations=self.obligations
        )
        auth.touch = self.periodic.touch
        self.notifier: Notifier = notifier or LocalNotifier()
        self.notifier.subscribe(self._changed)

    def _changed(self, tracks: frozenset[str]) -> None:
        """Some node changed ``tracks``: wake the streams and long polls, and look at their periodic work."""
        for track in tracks:
            self.periodic.touch(track)
        self.changes.notify()

    def _commit(self, commands: Sequence[SignedCommand]) -> list[CommandResult | BackchannelError]:
        """Deliver a group of commands, then record the cross-track facts they made (ADR-0028)."""
        outcomes = self.delivery.submit_many(commands)
        changed = {c.track for c, o in zip(commands, outcomes, strict=True) if isinstance(o, CommandResult)}
        if changed:
            self.notifier.announce(changed)
            try:
                self.coordination.after_commit(changed)
            except Exception:  # noqa: BLE001 - the commit stands; a fact missed now is found at the next one
                _log.exception("recording cross-track facts failed after a commit on %s", sorted(changed))
        return outcomes

    @property
    def replay(self) -> ReplayWindow:
        """The replay window of the authenticator (per-key and per-track budgets)."""
        return self.auth.replay

    def state(self, track: str) -> TrackState:
        """The track's state (NotFoundError if there is no such track)."""
        state = self.service.state(track)
        if state is None:
            raise NotFoundError(f"no track {track!r}")
        return state

    def entry(self, track: str, index: int) -> tuple[LogEntryModel, LogEntry]:
        """Entry ``index`` of ``track``, as the API renders it and decoded."""
        entry = self.service.entry(track, index)
        model = LogEntryModel(
            index=entry.seq,
            signed=dict(entry.signed.to_dict()),
            salt=b64encode(entry.salt),
            leaf_hash=entry.leaf_hash.hex(),
        )
        return model, entry


def visible(state: TrackState, member: str, entry: LogEntry) -> bool:
    """Whether ``member`` may read ``entry`` (the service's own key: every party but witnesses)."""
    event = entry.signed.event
    if event.type == KEY_REGISTERED:  # the service's own key: public to every party but witnesses
        record = state.members.get(member)
        return record is not None and state.parties[record.party].kind is not PartyKind.WITNESS
    body = event.body
    return isinstance(body, dict) and visible_to(state, member, event_from_dict(body["event"]))


async def read_body(request: Request, limit: int = MAX_BODY_BYTES, what: str = "request body") -> bytes:
    """The request body, at most ``limit`` bytes (PayloadTooLargeError, 413, naming ``what``)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLargeError(limit, what)
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLargeError(limit, what)
        chunks.append(chunk)
    return b"".join(chunks)


_INLINE: ContextVar[bool] = ContextVar("backchannel_api_inline", default=False)


@contextlib.contextmanager
def inline_calls() -> Iterator[None]:
    """Within this block (this context), :func:`threaded` calls in the event loop's own thread.

    The simulator's mode (ADR-0043): one request at a time on a private loop, so a
    thread hand-off per blocking call only costs time. The live server never enters it.
    """
    token = _INLINE.set(True)
    try:
        yield
    finally:
        _INLINE.reset(token)


async def threaded(call: Callable[..., T], *args: Any) -> T:  # noqa: ANN401 - forwarded as given
    """Run blocking ``call(*args)`` in the thread pool (inside :func:`inline_calls`: here, at once)."""
    if _INLINE.get():
        return call(*args)
    return await run_in_threadpool(call, *args)
