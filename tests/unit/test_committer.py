"""The group committer: concurrent callers share groups; each gets its own outcomes."""

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import pytest

from backchannel.errors import ConfigurationError, OperationalError
from backchannel.service.committer import GroupCommitter, Outcome
from backchannel.service.tracks import CommandResult


def result(n: int) -> CommandResult:
    return CommandResult((), n, None, replayed=False)


class Recorder:
    """A runner that records its groups; the first group can be held until released."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.groups: list[list[Any]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, commands: Sequence[Any]) -> list[Outcome]:
        self.groups.append(list(commands))
        self.started.set()
        self.release.wait(10)
        return [result(c) for c in commands]


def first_indexes(future: Future[list[Outcome]]) -> list[int | None]:
    return [o.first_index for o in future.result(10) if isinstance(o, CommandResult)]


def test_a_lone_caller_is_written_at_once() -> None:
    runner = Recorder()
    committer = GroupCommitter(runner)
    assert committer.execute([1, 2]) == [result(1), result(2)]
    assert runner.groups == [[1, 2]]
    assert committer.groups == 1
    committer.close()


def test_callers_arriving_during_a_write_share_the_next_group_and_get_their_own_outcomes() -> None:
    runner = Recorder(hold_first=True)
    committer = GroupCommitter(runner)
    first = committer.submit([0])
    assert runner.started.wait(10)
    waiting = [committer.submit([10 * i, 10 * i + 1]) for i in range(1, 4)]
    runner.release.set()
    assert first_indexes(first) == [0]
    assert [first_indexes(f) for f in waiting] == [[10, 11], [20, 21], [30, 31]]
    assert runner.groups == [[0], [10, 11, 20, 21, 30, 31]]
    committer.close()


def test_a_group_stops_at_the_size_limit_and_the_next_request_leads_the_next_group() -> None:
    runner = Recorder(hold_first=True)
    committer = GroupCommitter(runner, max_commands=3)
    first = committer.submit([0])
    assert runner.started.wait(10)
    a = committer.submit([1, 2])
    b = committer.submit([3, 4])  # would make 4: held for the next group
    big = committer.submit([5, 6, 7, 8])  # larger than the limit: alone
    runner.release.set()
    for future in (first, a, b, big):
        future.result(10)
    assert runner.groups == [[0], [1, 2], [3, 4], [5, 6, 7, 8]]
    committer.close()


def test_a_failed_group_fails_every_caller_in_it() -> None:
    gate = threading.Event()

    def failing(commands: Sequence[Any]) -> list[Outcome]:
        gate.wait(10)
        raise OperationalError("disk I/O error")

    committer = GroupCommitter(failing)
    futures = [committer.submit([i]) for i in range(3)]
    gate.set()
    for future in futures:
        with pytest.raises(OperationalError, match="disk I/O error"):
            future.result(10)
    assert committer.groups == 0
    committer.close()


def test_an_unexpected_failure_reaches_the_caller_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(commands: Sequence[Any]) -> list[Outcome]:
        raise RuntimeError("bug")

    committer = GroupCommitter(broken)
    with pytest.raises(RuntimeError, match="bug"):
        committer.execute([1])
    committer.close()
    assert "group commit failed" in caplog.text


def test_close_finishes_queued_work_and_refuses_more() -> None:
    runner = Recorder(hold_first=True)
    committer = GroupCommitter(runner)
    queued = [committer.submit([i]) for i in range(3)]
    assert runner.started.wait(10)
    closer = threading.Thread(target=committer.close)
    closer.start()
    runner.release.set()
    closer.join(10)
    assert [first_indexes(f) for f in queued] == [[0], [1], [2]]
    with pytest.raises(ConfigurationError, match="closed"):
        committer.submit([9])
    committer.close()  # idempotent


def test_close_without_any_work_is_immediate() -> None:
    committer = GroupCommitter(Recorder())
    committer.close()
    with pytest.raises(ConfigurationError):
        committer.execute([])


def test_the_size_limit_must_be_positive() -> None:
    with pytest.raises(ConfigurationError, match="max_commands must be at least 1"):
        GroupCommitter(Recorder(), max_commands=0)


def test_stop_worker_ends_the_thread_and_a_new_submission_starts_another() -> None:
    runner = Recorder()
    committer = GroupCommitter(runner)
    committer.stop_worker()  # no worker yet: nothing to do
    assert first_indexes(committer.submit([1])) == [1]
    worker = committer._thread
    assert worker is not None
    committer.stop_worker()
    assert not worker.is_alive()
    assert not committer.statistics().closed
    assert first_indexes(committer.submit([2])) == [2]  # a new worker took it
    committer.close()
    with pytest.raises(ConfigurationError, match="closed"):
        committer.submit([3])


def test_work_submitted_while_the_worker_stops_is_done_by_the_next() -> None:
    runner = Recorder(hold_first=True)
    committer = GroupCommitter(runner)
    first = committer.submit([1])
    assert runner.started.wait(10)
    stopper = threading.Thread(target=committer.stop_worker)
    stopper.start()
    while committer._stopping is None:  # the stop has begun: the worker is held in the first group
        time.sleep(0.001)
    late = committer.submit([2])  # queued behind the stop; no second worker races for it
    runner.release.set()
    stopper.join(10)
    assert first_indexes(first) == [1]
    assert first_indexes(late) == [2]
    committer.close()
