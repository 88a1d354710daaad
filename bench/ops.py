"""What operating reads cost next to the reads they sit beside (issue #12 items 9-10, ADR-0029).

One process, one SQLite store holding N tracks (default 200; ``--quick``: 20),
each opened by ``qatar`` with ``usa`` admitted, served in-process by the real
app. Side by side, median of repeated requests:

- ``GET /metrics`` (every track's queues, parties, witness lag) next to the
  unauthenticated ``GET /v1/service``;
- ``GET /v1/tracks`` signed by ``usa`` (a member of all N) next to one
  signed ``GET .../checkpoint`` of one track;
- a searched ``GET .../events?type=agenda.proposed`` next to the plain read.

Figures go to stdout, progress to stderr; compare the ratios.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

with warnings.catch_warnings():  # starlette wants httpx2; the project pins httpx 0.28 (ADR-0012)
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from backchannel.api import create_app
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.httpsig import sign_request
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import sign_command
from backchannel.service.integrity import check_store
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.world import opening, seeded_keys

ORIGIN = "http://127.0.0.1:8000"
NODE = seeded_keys(1, "qatar/service")
QATAR = seeded_keys(2, "qatar/principal")
USA = seeded_keys(3, "usa/principal")


def build(path: Path, tracks: int) -> TrackService:
    """A track service over a fresh SQLite store holding ``tracks`` tracks."""
    store = SQLiteEventStore(path)
    service = TrackService(
        LogWriter(store, NoteSigner("bench.log", SigningKey.from_seed(b"\x09" * 32))), NODE
    )
    for i in range(tracks):
        track = f"track-{i:05d}"
        commands = [
            sign_command(
                who.signing, track=track, command=command, member=who.name, body=body,
                issued_at=datetime.now(UTC), nonce=secrets.token_hex(8),
            )
            for who, command, body in opening(QATAR, NODE, [USA], title=f"Track {i}")
        ]  # fmt: skip
        for command in commands:
            service.execute(command)
        if i % 50 == 0:
            print(f"  {i + 1}/{tracks} tracks", file=sys.stderr)
    service.set_aside(check_store(store))
    return service


def median_ms(call: Callable[[], object], repeat: int) -> float:
    """The median wall time of ``call``, in milliseconds."""
    times: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def signed_get(http: TestClient, who: KeyPair, path: str) -> None:
    """A signed GET that must succeed."""
    headers = sign_request(
        "GET", ORIGIN + path, {}, b"", key=who.signing, created=datetime.now(UTC), nonce=secrets.token_hex(12)
    )
    response = http.get(path, headers=headers)
    assert response.status_code == 200, response.text


def plain_get(http: TestClient, path: str) -> None:
    """An unsigned GET that must succeed."""
    response = http.get(path)
    assert response.status_code == 200, response.text


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 tracks, fewer repeats (a smoke run)")
    args = parser.parse_args()
    tracks, repeat = (20, 20) if args.quick else (200, 50)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    print(f"bench/ops.py commit {commit.stdout.strip() or '?'} tracks {tracks} repeat {repeat}")
    with tempfile.TemporaryDirectory(prefix="bench-ops-") as tmp:
        service = build(Path(tmp) / "db.sqlite3", tracks)
        app = create_app(service, public_origin=ORIGIN, tick_interval=None)
        with TestClient(app, base_url=ORIGIN, client=("127.0.0.1", 4000)) as http:
            one = "/v1/tracks/track-00000"
            pairs = {
                "/metrics vs /v1/service": (
                    median_ms(lambda: plain_get(http, "/metrics"), repeat),
                    median_ms(lambda: plain_get(http, "/v1/service"), repeat),
                ),
                "/v1/tracks vs one checkpoint": (
                    median_ms(lambda: signed_get(http, USA, "/v1/tracks"), repeat),
                    median_ms(lambda: signed_get(http, USA, one + "/checkpoint"), repeat),
                ),
                "searched events vs plain events": (
                    median_ms(lambda: signed_get(http, USA, one + "/events?type=agenda.proposed"), repeat),
                    median_ms(lambda: signed_get(http, USA, one + "/events"), repeat),
                ),
            }
        service.store.close()
    for name, (ours, beside) in pairs.items():
        print(f"{name}: {ours:.2f} ms vs {beside:.2f} ms (ratio {ours / beside:.1f}x)")


if __name__ == "__main__":
    main()
