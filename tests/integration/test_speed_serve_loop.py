"""``backchannel serve --loop`` (issue #13, ADR-0049): the event loop is the operator's choice."""

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.skipif(importlib.util.find_spec("uvloop") is not None, reason="uvloop is installed here")
def test_asking_for_uvloop_without_it_is_refused_before_anything_is_opened(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--loop", "uvloop"])
    assert result.exit_code == 1
    assert "--loop uvloop: uvloop is not installed" in result.output
    assert not (tmp_path / "d").exists()


def test_an_unknown_loop_is_refused_naming_the_choices(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--loop", "trio"])
    assert result.exit_code == 2
    assert "asyncio" in result.output


def test_serve_on_the_asyncio_loop_answers(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-c", "from backchannel.cli.main import main; main()", "serve"]
    args = [
        "--data-dir",
        str(tmp_path / "d"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "asyncio",
    ]
    proc = subprocess.Popen([*command, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/v1/service", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer within 30 s"
                time.sleep(0.05)
        assert response.status_code == 200
        assert response.json()["service_key"]["key_id"].startswith("ed25519:")
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.communicate(timeout=15)
