"""Several ``backchannel serve`` processes sharing one store: the scale-out tests' and benchmark's cluster.

:class:`Cluster` starts ``nodes`` real ``backchannel serve`` processes on free
``127.0.0.1`` ports, all on one data directory (the log and node keys) and one
store: the directory's SQLite file by default, or ``store`` (a
``postgresql://`` URL, issue #14). Node 0 starts first, so the keys are created
once, then the others. :meth:`Cluster.kill` sends ``SIGKILL`` to one node by its
PID (no shutdown hook runs: what a crash does), :meth:`Cluster.restart` starts
it again on the same port and waits until it answers. Each node writes its log
to ``<data_dir>/../node-<i>.log``; :meth:`Cluster.output` reads its end.

Every process this module starts is stopped by its PID when the cluster closes,
and on Linux it is also killed if the thread that started it ends first
(``PR_SET_PDEATHSIG``), so a test or benchmark that is itself killed leaves no
node behind: start nodes from a thread that outlives them (the main thread).
This module does not drive any load (the callers do).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self, TypeVar

import httpx

from backchannel.sdk import ProblemError
from backchannel.testing.server import free_port

T = TypeVar("T")
RETRYABLE = frozenset({429, 502, 503, 504})
"""Statuses after which a client of a cluster tries another node (overloaded, or a node going down)."""

__all__ = ["RETRYABLE", "Cluster", "ClusterNode"]

_POLL = 0.05


@dataclass
class ClusterNode:
    """One node of a :class:`Cluster`.

    Attributes:
        index: The node's number (0 first).
        port: Its port on ``127.0.0.1`` (kept across restarts).
        log_file: Where its output goes (appended to across restarts).
        proc: The running process, or ``None`` while it is down.
        starts: How many times it was started.
    """

    index: int
    port: int
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        """The node's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def up(self) -> bool:
        """Whether its process is running."""
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Cluster:
    """``nodes`` ``backchannel serve`` processes on one data directory and one store.

    Attributes:
        data_dir: The shared data directory (created by node 0).
        count: How many nodes.
        admit: Key ids that may open tracks (``--admit-key``).
        store: A store URL (``--store``); ``None``: the data directory's SQLite file.
        extra: More ``serve`` options, for every node.
        env: Environment variables added for every node.
        timeout: Seconds a node may take to answer after it starts.
    """

    data_dir: Path
    count: int
    admit: Sequence[str]
    store: str | None = None
    extra: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    nodes: list[ClusterNode] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        """Choose each node's port and log file (nothing is started yet)."""
        if self.count < 1:
            msg = f"count must be at least 1, got {self.count}"
            raise ValueError(msg)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.nodes = [
            ClusterNode(i, free_port(), self.data_dir.parent / f"node-{i}.log") for i in range(self.count)
        ]

    def __enter__(self) -> Self:
        """Start every node (node 0 first); stop them all if one fails to start."""
        try:
            for node in self.nodes:
                self.start(node.index)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop every node."""
        self.close()

    def argv(self, index: int) -> list[str]:
        """The command line of node ``index``."""
        node = self.nodes[index]
        argv = [sys.executable, "-m", "backchannel", "serve", "--data-dir", str(self.data_dir)]
        argv += ["--host", "127.0.0.1", "--port", str(node.port)]
        for key in self.admit:
            argv += ["--admit-key", key]
        if self.store is not None:
            argv += ["--store", self.store]
        return [*argv, *self.extra]

    def url(self, index: int) -> str:
        """The base URL of node ``index``."""
        return self.nodes[index].url

    def live(self) -> list[int]:
        """The indexes of the nodes whose process is running."""
        return [node.index for node in self.nodes if node.up]

    def on_any_live(
        self,
        call: Callable[[int], T],
        *,
        first: int | None = None,
        wait: float = 60.0,
        pause: float = 0.05,
        rng: random.Random | None = None,
    ) -> T:
        """``call(node)`` on live nodes (``first`` first, then at random) until one answers.

        What a client of a cluster does when its node dies: the same signed
        command again on another node (a landed one is then a no-op, by its
        idempotency key). A transport error, a 429 or 5xx, or a 409 for lost
        append races moves on to another node; any other error is raised.

        Raises:
            TimeoutError: no node answered within ``wait`` seconds.
        """
        pick = rng or random.Random()  # noqa: S311 - spreading load, not secrecy
        deadline = time.monotonic() + wait
        node = first
        while True:
            live = self.live() or list(range(self.count))
            try:
                return call(node if node is not None and node in live else pick.choice(live))
            except httpx.TransportError:
                pass
            except ProblemError as e:
                if e.status not in RETRYABLE and not (e.status == 409 and "append races" in str(e)):
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"no node answered within {wait:g} s")
            node = None
            time.sleep(pause)

    def start(self, index: int) -> None:
        """Start node ``index`` and wait until ``/v1/service`` answers.

        Raises:
            RuntimeError: it is already running, or it exited before it answered (its log's end says why).
            TimeoutError: it did not answer within :attr:`timeout`.
        """
        node = self.nodes[index]
        if node.up:
            msg = f"node {index} is already running"
            raise RuntimeError(msg)
        with node.log_file.open("ab") as log:
            node.proc = subprocess.Popen(  # noqa: S603 - our own command line, in tests and benchmarks
                self.argv(index),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **self.env},
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only an async-signal-safe prctl
            )
        node.starts += 1
        deadline = time.monotonic() + self.timeout
        while not _answers(node.url):
            if node.proc.poll() is not None:
                msg = f"node {index} exited with status {node.proc.returncode}: {self.output(index)}"
                raise RuntimeError(msg)
            if time.monotonic() >= deadline:
                msg = f"node {index} did not answer at {node.url} within {self.timeout} s"
                raise TimeoutError(msg)
            time.sleep(_POLL)

    def kill(self, index: int) -> None:
        """``SIGKILL`` node ``index`` by its PID and reap it (no shutdown hook runs)."""
        node = self.nodes[index]
        if node.proc is None:
            return
        if node.proc.poll() is None:
            os.kill(node.proc.pid, signal.SIGKILL)
        node.proc.wait(timeout=15)
        node.proc = None

    def restart(self, index: int) -> None:
        """Kill node ``index`` if it runs, then start it again on its port."""
        self.kill(index)
        self.start(index)

    def stop(self, index: int) -> None:
        """Ask node ``index`` to stop (``SIGTERM``); ``SIGKILL`` it after 15 s."""
        node = self.nodes[index]
        if node.proc is None:
            return
        if node.proc.poll() is None:
            os.kill(node.proc.pid, signal.SIGTERM)
            try:
                node.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(node.proc.pid, signal.SIGKILL)
                node.proc.wait(timeout=15)
        node.proc = None

    def close(self) -> None:
        """Stop every node that runs. Idempotent."""
        for node in self.nodes:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                self.stop(node.index)

    def output(self, index: int) -> str:
        """The end of node ``index``'s log (across its restarts)."""
        try:
            return self.nodes[index].log_file.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""

    def pid(self, index: int) -> int | None:
        """Node ``index``'s process id, or ``None`` while it is down."""
        proc = self.nodes[index].proc
        return None if proc is None else proc.pid


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux for SIGKILL when the parent thread ends (no-op elsewhere)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url + "/v1/service", timeout=1).status_code == 200
    except httpx.TransportError:
        return False
