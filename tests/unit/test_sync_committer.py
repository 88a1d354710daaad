"""The synchronous committer (the simulator's, ADR-0043): each submission runs at once, in the caller's thread."""

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from backchannel.api.context import inline_calls, threaded
from backchannel.errors import ConfigurationError, OperationalError
from backchannel.service.committer import Outcome
from backchannel.service.sync_committer import SyncCommitter
from backchannel.service.tracks import CommandResult


def result(n: int) -> CommandResult:
    return CommandResult((), n, None, replayed=False)


class Recorder:
    """A runner that records its groups and the thread each ran on; fails on a command 'boom'."""

    def __init__(self) -> None:
        self.groups: list[list[Any]] = []
        self.threads: list[int] = []

    def __call__(self, commands: Sequence[Any]) -> list[Outcome]:
        self.threads.append(threading.get_ident())
        if "boom" in commands:
            raise OperationalError("the store is unavailable")
        self.groups.append(list(commands))
        return [result(c) for c in commands]


def test_each_submission_is_its_own_group_run_in_the_callers_thread_before_submit_returns() -> None:
    runner = Recorder()
    committer = SyncCommitter(runner)
    sizes: list[int] = []
    committer.on_group = sizes.append
    first = committer.submit([1, 2])
    assert first.done()
    assert first.result() == [result(1), result(2)]
    assert committer.execute([3]) == [result(3)]
    assert runner.groups == [[1, 2], [3]]
    assert runner.threads == [threading.get_ident()] * 2
    assert sizes == [2, 1]
    stats = committer.statistics()
    assert (stats.groups_written, stats.commands_written, stats.largest_group) == (2, 3, 2)
    assert (stats.groups_failed, stats.requests_waiting, stats.closed) == (0, 0, False)


def test_a_failed_group_is_the_callers_error_and_counted() -> None:
    runner = Recorder()
    committer = SyncCommitter(runner)
    future = committer.submit(["boom"])
    assert future.done()
    with pytest.raises(OperationalError, match="unavailable"):
        future.result()
    assert committer.statistics().groups_failed == 1
    assert committer.groups == 0
    assert committer.execute([4]) == [result(4)]  # the next submission is unaffected


def test_stop_worker_keeps_accepting_and_close_refuses() -> None:
    committer = SyncCommitter(Recorder())
    committer.stop_worker()
    assert committer.execute([1]) == [result(1)]
    committer.close()
    committer.close()
    assert committer.statistics().closed
    with pytest.raises(ConfigurationError, match="closed"):
        committer.submit([2])


def test_prepare_with_checks_its_arguments_like_the_group_committer() -> None:
    committer = SyncCommitter(Recorder())
    committer.prepare_with(lambda _: None, workers=2)
    with pytest.raises(ConfigurationError, match="workers and slice_size"):
        committer.prepare_with(lambda _: None, workers=0)


def test_threaded_runs_in_the_loops_thread_only_inside_inline_calls() -> None:
    async def where() -> tuple[int, int, int]:
        pooled = await threaded(threading.get_ident)
        with inline_calls():
            inline = await threaded(threading.get_ident)
        after = await threaded(threading.get_ident)
        return pooled, inline, after

    loop_thread = threading.get_ident()
    pooled, inline, after = asyncio.run(where())
    assert inline == loop_thread
    assert pooled != loop_thread
    assert after != loop_thread
