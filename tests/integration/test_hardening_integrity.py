"""Issue #8: a corrupted store is not served (bytes flipped in the SQLite file itself)."""

import contextlib
import logging
import os
import secrets
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from backchannel.api.errors import PROBLEM_BASE
from backchannel.errors import BackchannelError
from backchannel.node import Node, open_node
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.wire import sign_command
from backchannel.service.admission import Admission
from backchannel.service.config import Settings
from backchannel.service.integrity import DamagedStoreError
from backchannel.testing.server import running
from backchannel.testing.world import opening, seeded_keys

QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")
SRC = Path(__file__).resolve().parents[2] / "src"
PAGE = 4096


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A node's data directory holding two tracks, ``doha`` and ``oslo`` (entries 0 to 2 each; 1 is the title)."""
    settings = Settings.embedded(tmp_path / "node")
    with open_node(settings, host="127.0.0.1", port=0, admission=Admission([QATAR.signing.key_id])) as node:
        for track in ("doha", "oslo"):
            for signer, command, body in opening(
                QATAR, node.keys, [USA], agenda=None, title=f"marker-{track}-title"
            ):
                node.tracks.execute(sign_command(
                    signer.signing, track=track, command=command, member=signer.name, body=body,
                    issued_at=datetime.now(UTC), nonce=secrets.token_hex(8),
                ))  # fmt: skip
    assert not Path(str(settings.database) + "-wal").exists()  # everything is in the main file
    return settings.data_dir


def flip_byte(path: Path, needle: bytes, offset: int = 0) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at >= 0, f"{needle!r} not found"
    data[at + offset] ^= 0x01
    path.write_bytes(bytes(data))


def get(url: str, path: str) -> httpx.Response:
    headers = sign_request(
        "GET", url + path, {}, b"", key=QATAR.signing, created=datetime.now(UTC), nonce=secrets.token_hex(12)
    )
    return httpx.get(url + path, headers=headers, timeout=10)


def test_issue_8_a_flipped_byte_in_an_entry_sets_its_track_aside(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    flip_byte(Settings.embedded(data_dir).database, b"marker-doha-title", offset=9)
    nodes: list[Node] = []

    def make(url: str) -> Any:
        nodes.append(open_node(Settings.embedded(data_dir), host="127.0.0.1", port=0, public_origin=url))
        return nodes[0].app

    try:
        with caplog.at_level(logging.WARNING), running(make, lifespan=True) as url:
            report = nodes[0].integrity
            assert set(report.damaged) == {"doha"}
            assert report.healthy == ("oslo",)
            refused = get(url, "/v1/tracks/doha/checkpoint")
            assert refused.status_code == 503
            assert refused.headers["content-type"] == "application/problem+json"
            problem = refused.json()
            assert problem["type"] == PROBLEM_BASE + "track-damaged"
            assert problem["index"] == 1
            assert "at index 1" in problem["detail"]
            assert "does not match its leaf hash" in problem["detail"]
            assert get(url, "/v1/tracks/oslo/checkpoint").status_code == 200  # the healthy track is served
            # nothing is signed on top of the damaged track, through any path
            with pytest.raises(BackchannelError, match="is not served"):
                nodes[0].tracks.state("doha")
            for _ in range(3):  # let the ticker run a few times: the damaged track is not retried in a loop
                assert get(url, "/v1/tracks/oslo/checkpoint").status_code == 200
        assert not [r for r in caplog.records if r.exc_info is not None]  # no tracebacks
    finally:
        for node in nodes:
            node.close()


def test_issue_8_the_full_check_names_the_index_and_why(data_dir: Path) -> None:
    flip_byte(Settings.embedded(data_dir).database, b"marker-doha-title", offset=9)
    with open_node(Settings.embedded(data_dir), host="127.0.0.1", port=0, verify_full=True) as node:
        index, reason = node.integrity.damaged["doha"]
        assert index == 1
        assert "entry 1" in reason
        assert node.integrity.full
        assert node.integrity.healthy == ("oslo",)


def test_issue_8_a_healthy_store_passes_both_checks(data_dir: Path) -> None:
    for full in (False, True):
        with open_node(Settings.embedded(data_dir), host="127.0.0.1", port=0, verify_full=full) as node:
            assert node.integrity.damaged == {}
            assert node.integrity.healthy == ("doha", "oslo")


def serve(data_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-c", "from backchannel.cli.main import main; main()", "serve"]
    return subprocess.run(
        [*command, "--data-dir", str(data_dir), "--port", "0", *extra],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip


def test_issue_8_a_flipped_page_header_stops_the_server_with_a_clear_error(data_dir: Path) -> None:
    database = Settings.embedded(data_dir).database
    data = bytearray(database.read_bytes())
    data[4 * PAGE] ^= 0x01  # the b-tree page header of page 5 (the entries table's root)
    database.write_bytes(bytes(data))
    with pytest.raises(DamagedStoreError, match="fails SQLite's own check"):
        open_node(Settings.embedded(data_dir), host="127.0.0.1", port=0)
    finished = serve(data_dir)  # bounded: it must exit, not serve tracebacks forever
    assert finished.returncode == 1, finished.stdout + finished.stderr
    output = finished.stdout + finished.stderr
    assert "DamagedStoreError" in output
    assert "restore the data directory from a backup" in output
    assert "Traceback" not in output
    assert "listening" not in output


def test_issue_8_serve_reports_set_aside_tracks_and_says_listening_only_once_bound(data_dir: Path) -> None:
    flip_byte(Settings.embedded(data_dir).database, b"marker-doha-title", offset=9)
    with socket_taken() as port:  # the port is taken: uvicorn cannot bind it
        finished = serve(data_dir, "--host", "127.0.0.1", "--port", str(port))
    output = finished.stdout + finished.stderr
    assert finished.returncode != 0
    assert "NOT SERVED: track doha at index 1" in output
    assert "listening" not in output  # issue #8: it never said "listening" on a port it did not hold


@contextlib.contextmanager
def socket_taken() -> Iterator[int]:
    """A port held by a listening socket on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])
