"""Crash test of batch-signed submissions (ADR-0051): ``kill -9`` the real server mid-batch.

A real ``backchannel serve`` subprocess (its own process group) on 127.0.0.1
holds a track. Each round, usa signs a batch of statements once; the first part
of the batch is admitted command by command (each batch-signed command is valid
alone), then the whole batch is sent to ``.../commands/batch-signed`` while a
timer SIGKILLs the server at a seeded moment. With the server dead, the data
directory is checked: ``backchannel log verify`` exits 0, ``verify_store`` and
``replay`` (every embedded batch proof and root signature re-checked) pass, every
acknowledged command is logged exactly once and no command twice. The server is
restarted and the same batch sent again: the part already admitted answers as
replays, the rest is appended, and each command of the batch is then in the log
exactly once.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from backchannel.log.canonical import JSONValue
from backchannel.protocol.wire import SignedCommand, agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError
from backchannel.service.export import verify_store
from backchannel.service.tracks import replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

SRC = Path(__file__).resolve().parents[2] / "src"
TRACK = "batch-crash"
SEED = 20261206
ROUNDS = 4
BATCH = 150
START_TIMEOUT = 30.0
CLI = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]
QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")


def cli_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }


class Server:
    """``backchannel serve`` as a subprocess in its own process group; killed with SIGKILL."""

    def __init__(self, data_dir: Path, log_file: Path) -> None:
        self.data_dir = data_dir
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, Any]:
        command = [
            *CLI,
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        command += ["--admit-key", QATAR.signing.key_id]
        with self.log_file.open("ab") as log:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=cli_env(),
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_file.read_text(errors="replace")[-3000:]
            with contextlib.suppress(httpx.TransportError):
                response = httpx.get(self.url + "/v1/service", timeout=2)
                if response.status_code == 200:
                    info: dict[str, Any] = response.json()
                    return info
            time.sleep(0.05)
        raise AssertionError(f"serve did not answer within {START_TIMEOUT:g} s")

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def build_world(url: str, service_key: dict[str, Any]) -> None:
    with BackchannelClient(url, QATAR.name, QATAR) as qatar:
        qatar.execute("open_track", {
            "title": "batch crash", "principal_key": new_key(QATAR),
            "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for party, principal in (("usa", USA), ("iran", IRAN)):
            qatar.execute("admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name,
                "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    with BackchannelClient(url, USA.name, USA) as usa:
        usa.execute(
            "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
        )


def statement(text: str) -> dict[str, JSONValue]:
    return {
        "kind": "statement", "body": {"text": text}, "priority": "routine",
        "in_reply_to": None, "annexes": [], "agenda_version": None,
    }  # fmt: skip


def logged_digests(data_dir: Path) -> Counter[str]:
    """With the server dead: the log verifies offline and replays; each submission's digest, counted."""
    cli = subprocess.run(
        [*CLI, "log", "verify", "--track", TRACK, "--data-dir", str(data_dir), "-j", "1", "--commands"],
        capture_output=True, text=True, env=cli_env(), timeout=120, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, f"log verify failed:\n{cli.stdout}\n{cli.stderr}"
    store = SQLiteEventStore(data_dir / "backchannel.sqlite3")
    try:
        verify_store(store, TRACK)
        replay(store, TRACK)  # every batch proof and root signature re-checked
        found: Counter[str] = Counter()
        for stored in store.read(TRACK, 0, store.size(TRACK)):
            event = stored.decode().signed.event
            if event.type == "message.submitted":
                command = event.body["command"]
                assert isinstance(command, dict)
                assert "batch" in command
                found[SignedCommand.from_dict(command).digest.hex()] += 1
        return found
    finally:
        store.close()


def send_whole(
    usa: BackchannelClient, batch: list[SignedCommand], answered: list[list[dict[str, Any]]]
) -> None:
    """Send the whole batch once; record its answer (none when the kill cut it off)."""
    with contextlib.suppress(httpx.TransportError, ProblemError):
        answered.append(usa.send_signed_batch(batch))


def test_a_batch_half_admitted_then_killed_is_logged_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    server = Server(data_dir, tmp_path / "serve.log")
    info = server.start()
    acknowledged: set[str] = set()
    signed_all: set[str] = set()
    unanswered = 0  # rounds whose whole-batch request the kill cut off
    outcomes: dict[int, str] = {}  # after each kill: the whole batch logged, or only the part admitted before
    try:
        build_world(server.url, info["service_key"])
        for round_ in range(ROUNDS):
            with BackchannelClient(server.url, USA.name, USA, sleep=lambda _: None, max_attempts=1) as usa:
                batch = usa.sign_batch(
                    [("submit_message", statement(f"round {round_} line {i}")) for i in range(BATCH)],
                    track=TRACK,
                )
                signed_all |= {c.digest.hex() for c in batch}
                half = rng.randrange(1, BATCH)
                for command in batch[:half]:  # admitted one by one: each verifies alone
                    usa.send_command(command)
                    acknowledged.add(command.digest.hex())
                answered: list[list[dict[str, Any]]] = []

                sender = threading.Thread(target=send_whole, args=(usa, batch, answered))
                sender.start()
                # round 0 kills at once (the batch cannot have been answered); later rounds at a
                # seeded moment while the batch runs, or after it committed and before its answer
                time.sleep(0.0 if round_ == 0 else rng.uniform(0.0, 0.15))
                server.kill()
                sender.join(timeout=60)
                assert not sender.is_alive()
                if answered:
                    acknowledged |= {c.digest.hex() for c in batch}
                else:
                    unanswered += 1

            found = logged_digests(data_dir)
            outcomes[round_] = "all" if {c.digest.hex() for c in batch} <= set(found) else "half"
            assert all(n == 1 for n in found.values()), [d for d, n in found.items() if n > 1]
            assert acknowledged <= set(found), "an acknowledged command is missing after the kill"
            assert set(found) <= signed_all

            server.start()
            with BackchannelClient(server.url, USA.name, USA, sleep=lambda _: None) as usa:
                results = usa.send_signed_batch(batch)
            assert [r["status"] for r in results[:half]] == [200] * half  # admitted before: replays
            assert {r["status"] for r in results} <= {200, 201}
            acknowledged |= {c.digest.hex() for c in batch}
        server.kill()
        found = logged_digests(data_dir)
        assert set(found) == acknowledged == signed_all
        assert set(found.values()) == {1}
        print(
            f"{unanswered} of {ROUNDS} whole-batch requests cut off by the kill; logged after it: {outcomes}"
        )
        assert unanswered >= 1, "no kill landed before the batch's answer: the test proved nothing"
    finally:
        server.kill()
