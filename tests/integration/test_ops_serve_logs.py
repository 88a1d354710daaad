"""``backchannel serve --log-format json`` as a real subprocess: every stderr line is one JSON object."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SRC = Path(__file__).resolve().parents[2] / "src"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(proc: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited early with {proc.returncode}"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError("backchannel serve did not answer within 30 s")


def test_serve_logs_json_lines_with_the_request_fields(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-c", "from backchannel.cli.main import main; main()", "serve"]
    options = ["--data-dir", str(tmp_path / "data"), "--port", str(port), "--log-format", "json"]
    proc = subprocess.Popen(
        [*command, *options, "--metrics-token", "t0ken"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        wait_ready(proc, url)
        assert httpx.get(url + "/readyz", timeout=10).json()["status"] == "ready"
        assert httpx.get(url + "/metrics", timeout=10).status_code == 401
        scraped = httpx.get(url + "/metrics", headers={"authorization": "Bearer t0ken"}, timeout=10)
        assert scraped.status_code == 200
        assert 'backchannel_requests_refused_total{reason="unauthenticated",status="401"} 1.0' in scraped.text
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    lines: list[dict[str, Any]] = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    assert lines, "serve logged nothing"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert [(a["method"], a["path"], a["status"]) for a in access if a["path"] == "/metrics"] == [
        ("GET", "/metrics", 401), ("GET", "/metrics", 200),
    ]  # fmt: skip
    assert all(a["client"].startswith("127.0.0.1:") for a in access)
