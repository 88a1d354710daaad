"""Group commit across requests: one thread appends what many callers submitted.

Each request that runs a command hands it to :class:`GroupCommitter` and waits
on a future. One worker thread takes everything queued at that moment (up to
``max_commands``), runs it with one call of the ``run`` function
(:meth:`~backchannel.service.delivery.DeliveryService.submit_many`: one
transaction, one fsync and one checkpoint per track) and resolves each
caller's future with its own outcomes. While one group is being written the
next one gathers, so under load the groups grow by themselves and no caller
waits on a timer; a lone caller is written at once.

A failure of the whole group (the store is unavailable, races lost) is every
caller's failure: nothing of that group was appended, and each caller gets
the exception. This module does not decide, verify or speak HTTP.

**Preparation** (issue #13, ADR-0050). With :meth:`GroupCommitter.prepare_with`,
each request is first handed, in slices of at most ``slice_size`` commands, to
a pool of worker threads running a ``prepare`` function
(:meth:`~backchannel.service.verification.AheadOfCommit.verify`: the Ed25519
verifications, which release the GIL), and joins the queue when every slice
is done, in the order the requests were submitted. So the committer writes
one group while the next ones are verified. Preparation is advice: if it
fails, the request is queued all the same and the runner does the work.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from backchannel.errors import BackchannelError, ConfigurationError
from backchannel.protocol.wire import SignedCommand
from backchannel.service.tracks import CommandResult

__all__ = ["DEFAULT_MAX_COMMANDS", "CommitterStatistics", "GroupCommitter", "Outcome", "Runner"]

_log = logging.getLogger(__name__)

DEFAULT_MAX_COMMANDS = 1024
"""At most this many commands go into one group (one append per track)."""

Outcome = CommandResult | BackchannelError
"""A command's outcome: its result, or the error that refused it."""

Runner = Callable[[Sequence[SignedCommand]], list[Outcome]]
"""Runs a group of commands and returns one outcome per command, in order."""

Preparer = Callable[[Sequence[SignedCommand]], None]
"""Work done on a request's commands before they are queued (advice: may do nothing)."""

DEFAULT_SLICE = 32
"""Commands per preparation task: a large request is prepared by every worker at once."""


@dataclass(frozen=True, slots=True)
class CommitterStatistics:
    """A snapshot of a :class:`GroupCommitter` (trio ``statistics()`` style).

    Attributes:
        groups_written: Groups appended so far.
        commands_written: Commands in those groups.
        groups_failed: Groups that failed whole (every caller got the error).
        largest_group: The most commands written in one group.
        requests_waiting: Requests queued for the next group, now.
        closed: Whether :meth:`GroupCommitter.close` was called.
    """

    groups_written: int
    commands_written: int
    groups_failed: int
    largest_group: int
    requests_waiting: int
    closed: bool


@dataclass(slots=True)
class _Request:
    commands: Sequence[SignedCommand]
    future: Future[list[Outcome]] = field(default_factory=Future)
    unprepared: int = 0  # preparation slices still running


class GroupCommitter:
    """Groups the commands of concurrent callers into shared appends.

    Args:
        run: What runs a group (``DeliveryService.submit_many``).
        max_commands: The most commands in one group; a single request larger
            than this is still run whole, in a group of its own.
    """

    def __init__(self, run: Runner, *, max_commands: int = DEFAULT_MAX_COMMANDS) -> None:
        """Create the committer; its worker thread starts with the first submission."""
        if max_commands < 1:
            raise ConfigurationError(f"max_commands must be at least 1, got {max_commands}")
        self._run = run
        self._max = max_commands
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping: threading.Thread | None = None  # a worker asked to end (see stop_worker)
        self._closed = False
        self._held: _Request | None = None  # taken off the queue but left for the next group
        self.groups = 0
        """Groups written so far (a counter for tests and benchmarks)."""
        self._commands = 0
        self._failed = 0
        self._largest = 0
        self._waiting = 0
        self.on_group: Callable[[int], None] | None = None
        """Called with the size (commands) of each group written (the ``/metrics`` hook, ADR-0029)."""
        self._prepare: Preparer | None = None
        self._pool: ThreadPoolExecutor | None = None  # started with the first request to prepare
        self._workers = 0
        self._slice = DEFAULT_SLICE
        self._preparing: deque[_Request] = deque()  # submitted, not yet queued, in submission order
        self._prepared = threading.Condition(self._lock)  # notified as requests finish preparing

    def prepare_with(self, prepare: Preparer, *, workers: int = 2, slice_size: int = DEFAULT_SLICE) -> None:
        """Run ``prepare`` on each request's commands on ``workers`` threads before queueing it.

        Raises:
            ConfigurationError: fewer than one worker or a slice under one command.
        """
        if workers < 1 or slice_size < 1:
            raise ConfigurationError(
                f"workers and slice_size must be at least 1, got {workers}, {slice_size}"
            )
        self._prepare, self._slice, self._workers = prepare, slice_size, workers

    def submit(self, commands: Sequence[SignedCommand]) -> Future[list[Outcome]]:
        """Queue ``commands`` (kept together, in order) for the next group.

        Returns:
            A future resolved with one outcome per command, or with the exception
            that failed the whole group.

        Raises:
            ConfigurationError: the committer was closed.
        """
        request = _Request(tuple(commands))
        with self._lock:
            if self._closed:
                raise ConfigurationError("the group committer is closed")
            if self._thread is None and self._stopping is None:
                self._start()
            self._waiting += 1
            if self._prepare is None or not request.commands:
                self._queue.put(request)
                return request.future
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="prepare")
            pool = self._pool
            slices = [
                request.commands[i : i + self._slice] for i in range(0, len(request.commands), self._slice)
            ]
            request.unprepared = len(slices)
            self._preparing.append(request)
        for part in slices:
            pool.submit(self._prepare_slice, request, part)
        return request.future

    def _prepare_slice(self, request: _Request, commands: Sequence[SignedCommand]) -> None:
        """Prepare one slice; queue every request at the head whose slices are all done."""
        assert self._prepare is not None
        try:
            self._prepare(commands)
        except Exception:  # noqa: BLE001 - advice only: the runner does the work itself
            _log.exception("preparing %d commands failed; the committer checks them itself", len(commands))
        with self._lock:
            request.unprepared -= 1
            while self._preparing and not self._preparing[0].unprepared:
                self._queue.put(self._preparing.popleft())
            if self._thread is None and self._stopping is None and not self._closed:
                self._start()  # the worker was stopped while this request was being prepared
            self._prepared.notify_all()

    def statistics(self) -> CommitterStatistics:
        """What the committer has done so far, and what waits now."""
        with self._lock:
            return CommitterStatistics(
                groups_written=self.groups,
                commands_written=self._commands,
                groups_failed=self._failed,
                largest_group=self._largest,
                requests_waiting=self._waiting,
                closed=self._closed,
            )

    def execute(self, commands: Sequence[SignedCommand]) -> list[Outcome]:
        """Submit and wait: the outcomes of ``commands``, in order."""
        return self.submit(commands).result()

    def close(self) -> None:
        """Finish the queued groups, then stop the worker (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread, pool, self._pool = self._thread, self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)  # every request in preparation joins the queue first
        self._queue.put(None)
        if thread is not None:
            thread.join()

    def stop_worker(self) -> None:
        """Finish the queued groups and end the worker thread, still accepting submissions.

        What an app's lifespan does at shutdown: no thread is left behind, and a
        later submission (the app served again, or called without its lifespan)
        starts a new worker. Submissions that arrive while the worker stops wait
        in the queue for the next one.
        """
        with self._lock:
            while self._preparing:  # the requests being prepared join this worker's last groups
                self._prepared.wait()
            if self._pool is not None:  # idle now; a later request starts a new pool
                self._pool.shutdown(wait=False)
                self._pool = None
            thread = self._thread
            if thread is None or self._stopping is not None:
                return
            self._thread, self._stopping = None, thread
            self._queue.put(None)
        thread.join()
        with self._lock:
            self._stopping = None
            if not self._closed and not self._queue.empty():
                self._start()

    def _start(self) -> None:
        """Start the worker thread (the caller holds the lock)."""
        self._thread = threading.Thread(target=self._work, name="group-commit", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            group, stop = self._gather()
            if group:
                self._write(group)
            if stop:
                return

    def _gather(self) -> tuple[list[_Request], bool]:
        """Block for the first request, then take what is queued up to the size limit."""
        first = self._held or self._queue.get()
        self._held = None
        if first is None:
            return [], True
        group, size = [first], len(first.commands)
        while size < self._max:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is None:
                return group, True
            if size + len(request.commands) > self._max:
                self._held = request
                break
            group.append(request)
            size += len(request.commands)
        return group, False

    def _write(self, group: list[_Request]) -> None:
        with self._lock:
            self._waiting -= len(group)
        commands = [command for request in group for command in request.commands]
        try:
            outcomes = self._run(commands)
        except Exception as e:  # noqa: BLE001 - every caller of the group gets it
            if not isinstance(e, BackchannelError):
                _log.exception("group commit failed")
            for request in group:
                request.future.set_exception(e)
            with self._lock:
                self._failed += 1
            return
        self.groups += 1
        with self._lock:
            self._commands += len(commands)
            self._largest = max(self._largest, len(commands))
        if self.on_group is not None:
            self.on_group(len(commands))
        start = 0
        for request in group:
            stop = start + len(request.commands)
            request.future.set_result(outcomes[start:stop])
            start = stop
