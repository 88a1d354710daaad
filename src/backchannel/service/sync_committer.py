"""A committer that writes in the caller's thread: :class:`GroupCommitter`'s interface, no worker.

The simulator (issue #11, ADR-0043) runs the real service stack on one
thread, one request at a time: a group committer's worker thread would only
add two thread hand-offs to every command and never group anything.
:class:`SyncCommitter` runs each submission at once, as a group of its own,
with the same runner and the same outcomes, and returns a future that is
already resolved. The live server keeps :class:`GroupCommitter`.

This module does not decide, verify or speak HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from backchannel.errors import BackchannelError, ConfigurationError
from backchannel.protocol.wire import SignedCommand
from backchannel.service.committer import CommitterStatistics, Outcome, Preparer, Runner

__all__ = ["SyncCommitter"]

_log = logging.getLogger(__name__)


class SyncCommitter:
    """Runs every submission at once in the caller's thread (one group per submission).

    Args:
        run: What runs a group (``DeliveryService.submit_many``).
    """

    def __init__(self, run: Runner) -> None:
        """Create the committer (it has no thread to start)."""
        self._run = run
        self._closed = False
        self.groups = 0
        """Groups written so far (a counter for tests and benchmarks)."""
        self._commands = 0
        self._failed = 0
        self._largest = 0
        self.on_group: Callable[[int], None] | None = None
        """Called with the size (commands) of each group written (the ``/metrics`` hook, ADR-0029)."""

    def prepare_with(self, prepare: Preparer, *, workers: int = 2, slice_size: int = 32) -> None:
        """Accepted for :class:`GroupCommitter`'s interface; nothing is prepared ahead (no other thread).

        Raises:
            ConfigurationError: fewer than one worker or a slice under one command.
        """
        del prepare
        if workers < 1 or slice_size < 1:
            raise ConfigurationError(
                f"workers and slice_size must be at least 1, got {workers}, {slice_size}"
            )

    def submit(self, commands: Sequence[SignedCommand]) -> Future[list[Outcome]]:
        """Run ``commands`` now, as one group.

        Returns:
            A resolved future: one outcome per command, or the exception that
            failed the whole group (nothing of it was appended).

        Raises:
            ConfigurationError: the committer was closed.
        """
        if self._closed:
            raise ConfigurationError("the group committer is closed")
        future: Future[list[Outcome]] = Future()
        batch = tuple(commands)
        try:
            outcomes = self._run(batch)
        except Exception as e:  # noqa: BLE001 - the caller gets it through the future
            if not isinstance(e, BackchannelError):
                _log.exception("group commit failed")
            self._failed += 1
            future.set_exception(e)
            return future
        self.groups += 1
        self._commands += len(batch)
        self._largest = max(self._largest, len(batch))
        if self.on_group is not None:
            self.on_group(len(batch))
        future.set_result(outcomes)
        return future

    def execute(self, commands: Sequence[SignedCommand]) -> list[Outcome]:
        """Run ``commands`` now: their outcomes, in order."""
        return self.submit(commands).result()

    def statistics(self) -> CommitterStatistics:
        """What the committer has done so far (nothing ever waits)."""
        return CommitterStatistics(
            groups_written=self.groups,
            commands_written=self._commands,
            groups_failed=self._failed,
            largest_group=self._largest,
            requests_waiting=0,
            closed=self._closed,
        )

    def stop_worker(self) -> None:
        """Nothing to stop (there is no worker); submissions are still accepted."""

    def close(self) -> None:
        """Refuse later submissions (idempotent)."""
        self._closed = True
