"""Benchmark the console's overview for a deployment of N tracks (issue #12, ADR-0046).

Run with ``.venv/bin/python bench/console.py [--quick] [--tracks N]``.

N tracks (default 1,000), each opened by qatar with usa and iran admitted, plus
qatar's coordination log holding a dependency for every tenth track (so the
overview has blocked tracks and next meetings to show). The real app is served
on 127.0.0.1; qatar signs in with a one-time link.

- ours: ``GET /console/`` (the whole overview page: every track, its state from
  the coordination log, its next meetings, rendered as HTML);
- peer: ``GET /v1/tracks`` through the SDK (the API's own listing of the same
  tracks as JSON, with its RFC 9421 signature): the floor the console stands on.

It prints p50 and p99 per request and the ratio ours / peer.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from backchannel.api import create_app
from backchannel.clock import SystemClock
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import NoteSigner
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, sign_command
from backchannel.service.log import LogWriter
from backchannel.service.tracks import TrackService
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.console_world import IRAN, LOG_KEY, NODE, QATAR, USA, client
from backchannel.testing.server import running
from backchannel.testing.world import new_key_json

COORD = "coord-qatar"


def _command(keys: KeyPair, track: str, command: str, body: dict[str, JSONValue]) -> SignedCommand:
    return sign_command(
        keys.signing,
        track=track,
        command=command,
        member=keys.name,
        body=body,
        issued_at=datetime.now(UTC),
        nonce=secrets.token_urlsafe(12),
    )


def build(tracks: TrackService, n: int) -> None:
    """N tracks with two delegations each, and a coordination log with a dependency per tenth track."""
    node = tracks.node_key
    service_key: dict[str, JSONValue] = {
        "key_id": node.key_id,
        "ed25519": node.to_text(),
        "x25519": new_key_json(NODE)["x25519"],
        "expires_at": None,
    }
    names = [f"track-{i:05d}" for i in range(n)] + [COORD]
    for name in names:
        opening = _command(
            QATAR,
            name,
            "open_track",
            {"title": f"talks {name}", "principal_key": new_key_json(QATAR), "service_key": service_key},
        )
        admits = (
            [
                _command(
                    QATAR,
                    name,
                    "admit_party",
                    {
                        "party": p.name.partition("/")[0],
                        "kind": "delegation",
                        "principal": p.name,
                        "principal_key": new_key_json(p),
                    },
                )
                for p in (USA, IRAN)
            ]
            if name != COORD
            else []
        )
        for result in tracks.execute_many([opening, *admits]):
            assert not isinstance(result, Exception), result
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    commands = [
        _command(
            QATAR, COORD, "register_resource", {"resource_id": "room:doha", "kind": "room", "capacity": 1}
        )
    ]
    for i in range(0, n - 1, 10):
        commands.append(
            _command(
                QATAR,
                COORD,
                "declare_dependency",
                {
                    "dependency_id": f"d{i}",
                    "waiter": names[i],
                    "on_track": names[i + 1],
                    "kind": "deal_committed",
                    "ref": "deal-1",
                },
            )
        )
        commands.append(
            _command(
                QATAR,
                COORD,
                "book_resource",
                {
                    "booking_id": f"b{i}",
                    "resource": "room:doha",
                    "holder": names[i],
                    "start": (at + timedelta(hours=i)).isoformat().replace("+00:00", "Z"),
                    "end": (at + timedelta(hours=i, minutes=30)).isoformat().replace("+00:00", "Z"),
                    "priority": 1,
                    "queue": False,
                },
            )
        )
    for result in tracks.execute_many(commands):
        assert not isinstance(result, Exception), result


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 tracks, 5 requests each")
    parser.add_argument("--tracks", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    n, k = (100, 5) if args.quick else (args.tracks, args.requests)
    clock = SystemClock()
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteEventStore(Path(tmp) / "db.sqlite3")
        tracks = TrackService(
            LogWriter(store, NoteSigner("bench.log", LOG_KEY), clock=clock), NODE, clock=clock
        )
        began = time.perf_counter()
        build(tracks, n)
        print(f"built {n} tracks and a coordination log in {time.perf_counter() - began:.1f} s")
        serving = running(lambda url: create_app(tracks, public_origin=url, clock=clock))
        with serving as url, client(url, QATAR) as qatar:
            cookies = httpx.get(qatar.console_link("track-00000"), follow_redirects=False).cookies
            ours: list[float] = []
            peer: list[float] = []
            with httpx.Client(cookies=cookies, timeout=120) as browser:
                page = browser.get(f"{url}/console/")
                assert page.status_code == 200, page.text[:500]
                assert page.text.count('<tr class="track') == n + 1, "the overview lists every track"
                assert page.text.count('class="track blocked"') >= (n - 1) // 10
                assert len(qatar.tracks()) == n + 1
                for _ in range(k):
                    t = time.perf_counter()
                    browser.get(f"{url}/console/").raise_for_status()
                    ours.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    qatar.tracks()
                    peer.append(time.perf_counter() - t)
        store.close()
    (o50, o99), (p50, p99) = _percentiles(ours), _percentiles(peer)
    print(f"console overview, {n} tracks ({len(page.text) // 1024} KiB of HTML), {k} requests:")
    print(f"  ours  GET /console/    p50 {o50 * 1000:8.1f} ms   p99 {o99 * 1000:8.1f} ms")
    print(f"  peer  GET /v1/tracks   p50 {p50 * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms")
    print(f"  ratio ours/peer (p50): {o50 / p50:.2f}")


if __name__ == "__main__":
    main()
