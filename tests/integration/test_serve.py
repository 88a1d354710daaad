"""``backchannel serve`` as a real subprocess on 127.0.0.1, driven through the SDK."""

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from backchannel.cli.main import app
from backchannel.log.signing import AgreementKey, SigningKey
from backchannel.protocol.keyfile import KeyPair, read_key_file
from backchannel.protocol.wire import enrolment_key
from backchannel.sdk import BackchannelClient, ProblemError

SRC = Path(__file__).resolve().parents[2] / "src"
QATAR = KeyPair(
    "qatar/principal", SigningKey.from_seed(b"\x02" * 32), AgreementKey.from_private_bytes(b"\x66" * 32)
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(proc: subprocess.Popen[str], url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited early with {proc.returncode}"
        try:
            response = httpx.get(url + "/v1/service", timeout=1)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        if response.status_code == 200:
            data: dict[str, Any] = response.json()
            return data
    raise AssertionError("backchannel serve did not answer within 30 s")


def test_serve_runs_a_service_the_sdk_can_use(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]
    proc = subprocess.Popen(
        [
            *command,
            "serve",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--annex-max-bytes",
            "64",
            "--admit-key",
            QATAR.signing.key_id,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        info = wait_until_up(proc, url)
        with BackchannelClient(url, QATAR.name, QATAR, sleep=lambda _: None) as qatar:
            opened = qatar.execute("open_track", {
                "title": "Doha", "principal_key": enrolment_key(QATAR),
                "service_key": {**info["service_key"], "expires_at": None},
            }, track="doha-talks")  # fmt: skip
            assert opened["replayed"] is False
            assert qatar.log.checkpoint("doha-talks").size == opened["first_index"] + 1
            assert qatar.inbox.lease("doha-talks") == []
            assert qatar.inbox.heartbeat("doha-talks")["party"] == "qatar"
            assert qatar.annexes.upload("doha-talks", b"x" * 64)  # the configured annex limit, exactly
            with pytest.raises(ProblemError) as refused:
                qatar.annexes.upload("doha-talks", b"x" * 65)
            assert (refused.value.status, refused.value.problem["limit"]) == (413, 64)
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            out, errors = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, errors = proc.communicate(timeout=5)
            raise AssertionError("serve did not exit on SIGTERM") from None
    assert proc.returncode is not None
    assert f"service key: {info['service_key']['key_id']}" in out, errors
    assert f"log key: {info['log_key']}" in out
    node_key = data_dir / "node.key"
    assert stat.S_IMODE(node_key.stat().st_mode) == 0o600
    assert read_key_file(node_key).signing.key_id == info["service_key"]["key_id"]


def test_serve_refuses_a_remote_address_without_allow_remote(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--data-dir", str(tmp_path / "d"), "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "--allow-remote" in result.output
    assert not (tmp_path / "d").exists()
