"""``Cluster.on_any_live``: what a client of a cluster does when its node fails (no process started)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backchannel.sdk import ProblemError
from backchannel.testing.cluster import Cluster


def cluster(tmp_path: Path) -> Cluster:
    return Cluster(tmp_path / "data", 3, admit=[])  # none started: every node counts as a candidate


def test_the_first_node_is_tried_first_and_a_failing_one_is_left_for_another(tmp_path: Path) -> None:
    tried: list[int] = []

    def call(node: int) -> str:
        tried.append(node)
        if len(tried) == 1:
            raise httpx.ConnectError("refused")
        if len(tried) == 2:
            raise ProblemError(409, {"detail": "track 't': lost 12 append races in a row"})
        return f"answered by {node}"

    assert cluster(tmp_path).on_any_live(call, first=2, pause=0).startswith("answered by")
    assert tried[0] == 2
    assert len(tried) == 3


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_overload_and_a_node_going_down_are_retried(tmp_path: Path, status: int) -> None:
    answers = iter([ProblemError(status, {}), "ok"])

    def call(node: int) -> str:
        answer = next(answers)
        if isinstance(answer, ProblemError):
            raise answer
        return answer

    assert cluster(tmp_path).on_any_live(call, pause=0) == "ok"


@pytest.mark.parametrize("problem", [ProblemError(400, {}), ProblemError(409, {"detail": "stale version"})])
def test_any_other_refusal_is_raised_at_once(tmp_path: Path, problem: ProblemError) -> None:
    calls = 0

    def call(node: int) -> None:
        nonlocal calls
        calls += 1
        raise problem

    with pytest.raises(ProblemError) as raised:
        cluster(tmp_path).on_any_live(call, pause=0)
    assert raised.value is problem
    assert calls == 1


def test_no_answer_within_the_wait_is_a_timeout(tmp_path: Path) -> None:
    def call(node: int) -> None:
        raise httpx.ReadTimeout("no answer")

    with pytest.raises(TimeoutError, match=r"no node answered within 0.05 s"):
        cluster(tmp_path).on_any_live(call, wait=0.05, pause=0.01)
