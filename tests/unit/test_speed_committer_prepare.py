"""The group committer's preparation pool (issue #13, ADR-0050): advice run before a request is queued."""

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from backchannel.errors import ConfigurationError
from backchannel.service.committer import GroupCommitter, Outcome
from backchannel.service.tracks import CommandResult


def result(n: int) -> CommandResult:
    return CommandResult((), n, None, replayed=False)


def run(commands: Sequence[Any]) -> list[Outcome]:
    return [result(c) for c in commands]


def test_requests_are_prepared_in_slices_and_queued_in_submission_order() -> None:
    prepared: list[list[int]] = []
    lock = threading.Lock()
    gate = threading.Event()

    def prepare(commands: Sequence[Any]) -> None:
        if commands[0] == 0:
            gate.wait(10)  # the first request is prepared last
        with lock:
            prepared.append(list(commands))

    groups: list[list[int]] = []

    def runner(commands: Sequence[Any]) -> list[Outcome]:
        groups.append(list(commands))
        return run(commands)

    committer = GroupCommitter(runner)
    committer.prepare_with(prepare, workers=2, slice_size=2)
    first = committer.submit([0, 1, 2])
    second = committer.submit([10])
    assert not second.done()  # waits behind the first, still being prepared
    gate.set()
    assert [o.first_index for o in first.result(10) if isinstance(o, CommandResult)] == [0, 1, 2]
    assert [o.first_index for o in second.result(10) if isinstance(o, CommandResult)] == [10]
    assert sorted(map(tuple, prepared)) == [(0, 1), (2,), (10,)]
    assert [c for g in groups for c in g] == [0, 1, 2, 10]
    committer.close()


def test_a_failing_preparer_is_only_advice_the_request_still_runs() -> None:
    def prepare(_: Sequence[Any]) -> None:
        raise RuntimeError("no verification today")

    committer = GroupCommitter(run)
    committer.prepare_with(prepare)
    assert committer.execute([1, 2]) == [result(1), result(2)]
    assert committer.execute([]) == []
    committer.close()


def test_stopping_the_worker_waits_for_requests_in_preparation_and_a_later_one_starts_again() -> None:
    gate = threading.Event()
    committer = GroupCommitter(run)
    committer.prepare_with(lambda _: gate.wait(10), workers=1)
    pending = committer.submit([1])
    stopper = threading.Thread(target=committer.stop_worker)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()  # it waits for the request being prepared
    gate.set()
    stopper.join(10)
    assert pending.result(10) == [result(1)]
    assert committer.execute([2]) == [result(2)]  # a new pool and a new worker
    committer.close()


def test_a_preparation_pool_needs_a_worker_and_a_slice() -> None:
    committer = GroupCommitter(run)
    with pytest.raises(ConfigurationError, match="at least 1"):
        committer.prepare_with(lambda _: None, workers=0)
    with pytest.raises(ConfigurationError, match="at least 1"):
        committer.prepare_with(lambda _: None, slice_size=0)
    committer.close()
