"""``backchannel serve`` in a subprocess, for the live demo.

:class:`ServerProcess` starts the server on 127.0.0.1 (a free port), waits
until ``GET /v1/service`` answers, and stops it by PID (SIGTERM, then SIGKILL
after a timeout).

This module does not talk to the server beyond that first request.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

import backchannel
from backchannel.demo.keys import key_file, member_keys
from backchannel.errors import ConfigurationError

__all__ = ["ServerProcess", "server"]

_STOP_TIMEOUT = 10.0
_START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """``backchannel serve`` in a subprocess; its PID is written to ``pid_file`` while it runs."""

    def __init__(
        self,
        data_dir: Path,
        pid_file: Path,
        log_file: Path,
        *,
        flash_deadline: float,
        admit: Path | None = None,
    ) -> None:
        """Describe the server (nothing starts until :meth:`start`); ``admit`` may open tracks."""
        self.admit = admit
        self.data_dir = data_dir
        self.pid_file = pid_file
        self.log_file = log_file
        self.flash_deadline = flash_deadline
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's PID, while it runs."""
        return None if self._proc is None else self._proc.pid

    def start(self) -> dict[str, Any]:
        """Start the server and wait until ``GET /v1/service`` answers; return that answer."""
        src = str(Path(backchannel.__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))}
        command = [
            sys.executable,
            "-c",
            "from backchannel.cli.main import main; main()",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--flash-deadline",
            str(self.flash_deadline),
            "--heartbeat-window",
            "2",
            *(() if self.admit is None else ("--admit-key", str(self.admit))),
        ]
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)  # noqa: S603
        self.pid_file.write_text(f"{self._proc.pid}\n", encoding="utf-8")
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ConfigurationError(
                    f"backchannel serve exited with status {self._proc.returncode}; see {self.log_file}"
                )
            try:
                response = httpx.get(self.url + "/v1/service", timeout=1)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                info: dict[str, Any] = response.json()
                return info
        raise ConfigurationError(f"backchannel serve did not answer within {_START_TIMEOUT:.0f} s")

    def wait(self) -> None:
        """Block until the server exits (or Ctrl-C)."""
        if self._proc is not None:
            self._proc.wait()

    def stop(self) -> None:
        """Stop the server by PID: SIGTERM, then SIGKILL after a timeout; remove the PID file."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=_STOP_TIMEOUT)
        self.pid_file.unlink(missing_ok=True)


@contextmanager
def server(data_dir: Path, flash_deadline: float) -> Iterator[ServerProcess]:
    """A server for ``data_dir`` (not started), stopped on exit."""
    mediator = key_file(data_dir / "keys", "qatar/principal")
    member_keys(data_dir / "keys", "qatar/principal")  # the operator admits the mediator (ADR-0023)
    process = ServerProcess(
        data_dir / "server",
        data_dir / "server.pid",
        data_dir / "server.log",
        flash_deadline=flash_deadline,
        admit=mediator,
    )
    try:
        yield process
    finally:
        process.stop()
