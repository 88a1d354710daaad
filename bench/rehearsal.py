"""Rehearsal benchmark (issue #11): seeded fault runs per second, and the simulator next to the live service.

1. Seeded runs per second of ``doha-shuttle`` with its random faults (one process, then
   ``--workers`` processes through :func:`backchannel.sim.sweep`), and virtual seconds simulated
   per wall second; the projected time of 10,000 runs against the 10-minute target.
2. The same commands (open a track, admit two delegations, ratify the agenda, then N signed
   ``submit_message`` commands from one delegate, one at a time) through the real SDK client,
   (a) over the simulator's in-process transport on virtual time and (b) over real HTTP to the
   same app served by uvicorn on 127.0.0.1 (system clock): commands per second each, and the ratio
   (target: the simulator at least 5x the live service).

Run: ``.venv/bin/python bench/rehearsal.py [--quick] [--seeds N] [--workers N]``.
Figures on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import numpy as np

from backchannel.api import create_app
from backchannel.broker import DeliveryPolicy
from backchannel.clock import Clock, SystemClock
from backchannel.log.checkpoint import NoteSigner
from backchannel.log.signing import SigningKey
from backchannel.protocol.httpsig import DEFAULT_MAX_SKEW
from backchannel.protocol.keyfile import KeyPair
from backchannel.sdk import BackchannelClient
from backchannel.service.admission import Admission
from backchannel.service.annexes import AnnexService
from backchannel.service.delivery import DeliveryService
from backchannel.service.log import LogWriter
from backchannel.service.replay import ReplayWindow
from backchannel.service.tracks import TrackService
from backchannel.sim import load_scenario, run_scenario, sweep
from backchannel.sim.clock import SkewedClock, VirtualClock, entropy
from backchannel.sim.network import Network, SimTransport
from backchannel.sim.node import ORIGIN, SimNode, seeded_key
from backchannel.store.memory import MemoryEventStore
from backchannel.testing.world import message_body, opening

TRACK = "bench-rehearsal"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def seeded_runs(seeds: int, workers: int) -> None:
    scenario = load_scenario("doha-shuttle")
    run_scenario(scenario, 10_000, create_app)  # warm up imports
    started = time.perf_counter()
    virtual = 0.0
    commands = 0
    for seed in range(seeds):
        result = run_scenario(scenario, seed, create_app)
        assert not result.violations, (seed, result.violations)
        virtual += result.virtual_seconds
        commands += result.commands
    wall = time.perf_counter() - started
    print(
        f"doha-shuttle seeded fault runs, 1 process: {seeds / wall:.2f} runs/s ({seeds} seeds, {wall:.1f} s)"
    )
    print(f"virtual seconds per wall second: {virtual / wall:.0f} ({commands / wall:.0f} commands/s in runs)")
    started = time.perf_counter()
    report = sweep("doha-shuttle", seeds, create_app, first=seeds, workers=workers)
    wall = time.perf_counter() - started
    assert not report.failing, report.failing
    rate = seeds / wall
    print(f"doha-shuttle seeded fault runs, {workers} workers: {rate:.2f} runs/s")
    print(f"projected 10,000 runs: {10_000 / rate / 60:.1f} min (target < 10 min)")


def _services(
    clock: Clock, salts: Callable[[int], bytes]
) -> tuple[TrackService, DeliveryService, AnnexService]:
    key_seed = hashlib.sha256(b"bench-node").digest()
    writer = LogWriter(
        MemoryEventStore(), NoteSigner("bench/log", SigningKey.from_seed(key_seed)), clock=clock, salts=salts
    )
    tracks = TrackService(
        writer,
        seeded_key("backchannel/service", key_seed),
        clock=clock,
        admission=Admission.unsafe_open_to_all(),
    )
    return tracks, DeliveryService(tracks, tracks.node, DeliveryPolicy(), clock=clock), AnnexService(tracks)


def _workload(
    clients: dict[str, BackchannelClient], node_keys: KeyPair, keys: dict[str, KeyPair], count: int
) -> float:
    """Open the track, then ``count`` submissions by usa/delegate; return the seconds the submissions took."""
    for signer, command, body in opening(
        keys["qatar/principal"], node_keys, [keys["usa/principal"], keys["iran/principal"]]
    ):
        clients[signer.name].execute(command, body, track=TRACK)
    usa = clients["usa/principal"]
    body = message_body("statement", {"note": "x" * 200, "values": {}}, priority="routine")
    started = time.perf_counter()
    for _ in range(count):
        usa.execute("submit_message", body, track=TRACK)
    return time.perf_counter() - started


def _keys() -> dict[str, KeyPair]:
    return {
        m: seeded_key(m, hashlib.sha256(m.encode()).digest())
        for m in ("qatar/principal", "usa/principal", "iran/principal")
    }


def simulated(count: int) -> float:
    clock = VirtualClock()
    rng = np.random.default_rng(0)
    node = SimNode(
        create_app, clock=clock, salts=entropy(rng), key_seed=hashlib.sha256(b"bench-node").digest()
    )
    net = Network(node)
    keys = _keys()
    clients = {
        m: BackchannelClient(ORIGIN, m, k, transport=SimTransport(net, m), clock=SkewedClock(clock),
                             entropy=entropy(rng), pinned_log_key=node.log_key)
        for m, k in keys.items()
    }  # fmt: skip
    seconds = _workload(clients, node.keys, keys, count)
    node.close()
    return count / seconds


def serve(port: int) -> None:
    """The live side: the same services and app, served by uvicorn on 127.0.0.1 (a subprocess)."""
    import os

    import uvicorn

    clock = SystemClock()
    tracks, delivery, annexes = _services(clock, os.urandom)
    app = create_app(tracks, public_origin=f"http://127.0.0.1:{port}", clock=clock, delivery=delivery,
                     annexes=annexes, replay=ReplayWindow(DEFAULT_MAX_SKEW), tick_interval=None)  # fmt: skip
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def live(count: int) -> float:
    """The same commands over real HTTP to a uvicorn subprocess (stopped by its PID afterwards).

    A subprocess, not a thread of this process: uvicorn in a thread of the client's own
    process answers each request ~45 ms late here (measured), which would flatter the simulator.
    """
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/v1/service", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.1)
        keys = _keys()
        node_keys = seeded_key("backchannel/service", hashlib.sha256(b"bench-node").digest())
        clients = {m: BackchannelClient(url, m, k) for m, k in keys.items()}
        seconds = _workload(clients, node_keys, keys, count)
        for client in clients.values():
            client.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    return count / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run (fewer seeds and commands)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, help="seeds per measurement of part 1 (default 60; --quick: 10)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    seeds, count = (10, 100) if args.quick else (60, 1000)
    seeds = args.seeds or seeds
    print(f"commit {_commit()}; python {sys.version.split()[0]}")
    _say("1. seeded runs of doha-shuttle ...")
    seeded_runs(seeds, args.workers)
    _say("2. the same commands: simulated, then live HTTP ...")
    sim_rate = simulated(count)
    live_rate = live(count)
    print(f"submit_message, simulated (in-process ASGI, virtual clock): {sim_rate:.0f} commands/s")
    print(f"submit_message, live (uvicorn on 127.0.0.1, same app, same SDK): {live_rate:.0f} commands/s")
    print(f"ratio simulated / live: {sim_rate / live_rate:.2f}x (target >= 5x)")


if __name__ == "__main__":
    main()
