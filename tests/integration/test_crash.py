"""Crash test: ``kill -9`` the real ``backchannel serve`` during a load of submissions and settlements.

A real server subprocess (its own process group) on 127.0.0.1 holds a track
(mediator qatar, delegations usa and iran, agenda ratified). The test process
runs a load: usa submits statements (one idempotency key each), qatar leases its
queue and forwards each submission to iran, iran leases and settles one step
later (so a kill often finds leases not yet settled; iran forgets them when it
meets the outage, and they must be leased to it again). A second thread kills the server with SIGKILL at seeded random moments and restarts it on
the same data directory and port. Every command is signed once and kept until
the service answers it 2xx: the SDK retries a connection error with the same
signed command, and when it gives up the test sends the *same* command again later.

While the server is dead, after each kill, the data directory is checked:
``verify_store`` and ``replay`` pass, ``backchannel log verify`` exits 0, every
acknowledged submission is logged exactly once (and no submission twice), every
acknowledged forward and receipt is there. While it runs, no message iran
settled is ever leased to iran again, a message leased again keeps its log index,
a forwarded message never comes back to the mediator, and every restart serves
the same service and log keys. At the end every in-doubt command has been re-sent, every
acknowledged submission was delivered and settled exactly once, and the same
checks pass on the final log.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from backchannel.log.canonical import JSONValue
from backchannel.protocol.wire import SignedCommand, agenda_digest
from backchannel.sdk import BackchannelClient, ProblemError, receipt_digest
from backchannel.service.export import verify_store
from backchannel.service.tracks import replay
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.testing.world import SMALL_AGENDA as AGENDA
from backchannel.testing.world import new_key_json as new_key
from backchannel.testing.world import seeded_keys as pair

SRC = Path(__file__).resolve().parents[2] / "src"
TRACK = "us-iran-nuclear"
SEED = 20240611
KILLS = 4
MAX_SUBMISSIONS = 90
LOAD_WALL_SECONDS = 240.0  # a bound against a hang, not the expected time (about 15 s on an idle machine)
START_TIMEOUT = 30.0


QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }


CLI = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]


class Server:
    """``backchannel serve`` as a subprocess in its own process group; killed with SIGKILL."""

    def __init__(self, data_dir: Path, log_file: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = log_file
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> dict[str, Any]:
        assert self.proc is None
        self.starts += 1
        command = [*CLI, "serve", "--data-dir", str(self.data_dir), "--host", "127.0.0.1"]
        command += ["--admit-key", QATAR.signing.key_id]  # the operator admits the mediator (issue #8)
        with self.log_file.open("ab") as log:
            log.write(f"--- start {self.starts} ---\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cli_env(),
                start_new_session=True,  # its own process group: killpg reaches it alone
            )
        return self._wait_until_up()

    def _wait_until_up(self) -> dict[str, Any]:
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}: {self.output()}")
            try:
                response = httpx.get(self.url + "/v1/service", timeout=2)
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if response.status_code == 200:
                info: dict[str, Any] = response.json()
                return info
            time.sleep(0.05)
        raise AssertionError(f"serve did not answer within {START_TIMEOUT:g} s: {self.output()}")

    def kill(self) -> None:
        """SIGKILL the server's process group (by its pid) and reap it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it died on its own
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def output(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]


@dataclass
class Ledger:
    """What the clients know: acknowledged (2xx) and in-doubt commands, settled and seen deliveries."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    signed: int = 0  # submissions signed so far (acknowledged or in doubt)
    submitted: dict[str, str] = field(default_factory=dict)  # idempotency key -> message id (acked)
    submissions_in_doubt: dict[str, SignedCommand] = field(default_factory=dict)
    forwarded: set[str] = field(default_factory=set)  # message ids whose forward was acked
    forwards_in_doubt: dict[str, SignedCommand] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)  # message ids in an acked receipt by iran
    settles_in_doubt: list[tuple[SignedCommand, list[str]]] = field(default_factory=list)
    receipts: int = 0
    held: dict[str, int] = field(default_factory=dict)  # leased to iran, not yet in a receipt -> log index
    iran_log_index: dict[str, int] = field(default_factory=dict)  # message id -> index first leased at
    replayed: int = 0  # in-doubt commands the service had in fact executed (answered as replays)
    redelivered: int = 0  # unsettled messages leased to iran again after a restart (at-least-once)
    failed_sends: int = 0

    def snapshot(self) -> tuple[dict[str, str], set[str], set[str]]:
        with self.lock:
            return dict(self.submitted), set(self.forwarded), set(self.settled)

    def in_doubt(self) -> int:
        with self.lock:
            return len(self.submissions_in_doubt) + len(self.forwards_in_doubt) + len(self.settles_in_doubt)


def statement(text: str) -> dict[str, JSONValue]:
    return {
        "kind": "statement", "body": {"text": text}, "priority": "routine",
        "in_reply_to": None, "annexes": [], "agenda_version": None,
    }  # fmt: skip


def send(client: BackchannelClient, signed: SignedCommand, ledger: Ledger) -> dict[str, Any] | None:
    """Send a signed command; ``None`` when the service could not be reached (the command is in doubt)."""
    try:
        result = client.send_command(signed)
    except httpx.TransportError:
        pass
    except ProblemError as e:
        if e.status != 503:
            raise
    else:
        if result["replayed"]:
            with ledger.lock:
                ledger.replayed += 1
        return result
    with ledger.lock:
        ledger.failed_sends += 1
    return None


def build_world(url: str, service_key: dict[str, Any]) -> None:
    with BackchannelClient(url, QATAR.name, QATAR) as qatar:
        qatar.execute("open_track", {
            "title": "US-Iran nuclear talks", "principal_key": new_key(QATAR),
            "service_key": {**service_key, "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for party, principal in (("usa", USA), ("iran", IRAN)):
            qatar.execute("admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name,
                "principal_key": new_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    for principal in (USA, IRAN):
        with BackchannelClient(url, principal.name, principal) as client:
            client.execute(
                "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
            )


# --- the three actors: each step sends what is in doubt first, then new work -------------------------
def usa_step(usa: BackchannelClient, ledger: Ledger, *, new: bool) -> bool:
    """Re-send in-doubt submissions, then (``new``) submit one more; False when the service is down."""
    with ledger.lock:
        if new:
            key = f"crash-statement-{ledger.signed:04d}"
            body = statement(f"statement {ledger.signed}")
            ledger.submissions_in_doubt[key] = usa.sign(
                "submit_message", body, track=TRACK, idempotency_key=key
            )
            ledger.signed += 1
        pending = list(ledger.submissions_in_doubt.items())
    for key, signed in pending:
        result = send(usa, signed, ledger)
        if result is None:
            return False
        (event,) = result["events"]
        assert event["type"] == "message.submitted"
        assert event["command_digest"] == signed.digest.hex()  # the first result, on a replay too
        with ledger.lock:
            ledger.submitted[key] = signed.digest.hex()
            del ledger.submissions_in_doubt[key]
    return True


def qatar_step(qatar: BackchannelClient, ledger: Ledger) -> bool:
    """Re-send in-doubt forwards, lease the mediator's queue and forward each submission to iran."""
    try:
        leased = qatar.inbox.lease(TRACK, max_n=16)
    except httpx.TransportError:
        return False
    with ledger.lock:
        for delivery in leased:
            message_id = delivery["message_id"]
            assert message_id not in ledger.forwarded, (
                f"{message_id} was forwarded, yet leased to qatar again"
            )
            if message_id not in ledger.forwards_in_doubt:
                body: dict[str, JSONValue] = {"message_id": message_id, "to_parties": ["iran"]}
                key = f"forward-{message_id[:32]}"
                signed = qatar.sign("forward_message", body, track=TRACK, idempotency_key=key)
                ledger.forwards_in_doubt[message_id] = signed
        pending = list(ledger.forwards_in_doubt.items())
    for message_id, signed in pending:
        if send(qatar, signed, ledger) is None:
            return False
        with ledger.lock:
            ledger.forwarded.add(message_id)
            del ledger.forwards_in_doubt[message_id]
    return True


def iran_step(iran: BackchannelClient, ledger: Ledger) -> bool:
    """Re-send in-doubt receipts, settle what the last step leased, then lease more (held until next step).

    Holding leases across steps means a kill often finds leased, unsettled messages. When the
    service is unreachable iran forgets them: they must come back by lease after the restart.
    """
    ok = _iran_step(iran, ledger)
    if not ok:
        with ledger.lock:
            ledger.held.clear()
    return ok


def _iran_step(iran: BackchannelClient, ledger: Ledger) -> bool:
    with ledger.lock:
        pending = list(ledger.settles_in_doubt)
    for entry in pending:
        if send(iran, entry[0], ledger) is None:
            return False
        with ledger.lock:
            ledger.settled.update(entry[1])
            ledger.settles_in_doubt.remove(entry)
    with ledger.lock:
        held, ledger.held = ledger.held, {}
        if held:
            ids = list(held)
            body: dict[str, JSONValue] = {
                "items": [[message_id, index] for message_id, index in held.items()],
                "receipt_digest": receipt_digest(held.items()).hex(),
            }
            key = f"receipt-{ledger.receipts:04d}"
            ledger.receipts += 1
            entry = (iran.sign("record_receipt", body, track=TRACK, idempotency_key=key), ids)
            ledger.settles_in_doubt.append(entry)
    if held:
        if send(iran, entry[0], ledger) is None:
            return False
        with ledger.lock:
            ledger.settled.update(entry[1])
            ledger.settles_in_doubt.remove(entry)
    try:
        leased = iran.inbox.lease(TRACK, max_n=16)
    except httpx.TransportError:
        return False
    with ledger.lock:
        for delivery in leased:
            message_id, index = delivery["message_id"], delivery["log_index"]
            assert message_id not in ledger.settled, f"{message_id} was settled, yet leased to iran again"
            assert message_id not in ledger.held, f"{message_id} was leased twice within one lease"
            if message_id in ledger.iran_log_index:
                ledger.redelivered += 1
            first = ledger.iran_log_index.setdefault(message_id, index)
            assert first == index, f"{message_id} was leased at log index {first}, later at {index}"
            ledger.held[message_id] = index
    return True


# --- what the data directory must hold --------------------------------------------------------------
def check_data_dir(data_dir: Path, ledger: Ledger, *, final: bool = False) -> Counter[str]:
    """With the server dead: the log verifies and replays; what was acknowledged is there exactly once."""
    submitted, forwarded, settled = ledger.snapshot()  # taken after the kill: all acked before it
    cli = subprocess.run(
        [*CLI, "log", "verify", "--track", TRACK, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    assert cli.returncode == 0, f"log verify failed:\n{cli.stdout}\n{cli.stderr}"
    store = SQLiteEventStore(data_dir / "backchannel.sqlite3")
    try:
        verify_store(store, TRACK)
        state = replay(store, TRACK)
        by_key: Counter[str] = Counter()
        by_id: Counter[str] = Counter()
        forwards: Counter[str] = Counter()
        for stored in store.read(TRACK, 0, store.size(TRACK)):
            event = stored.decode().signed.event
            if event.type == "message.submitted":
                logged = event.body["event"]
                assert isinstance(logged, dict)
                by_key[str(logged["idempotency_key"])] += 1
                by_id[str(logged["command_digest"])] += 1
            elif event.type == "message.forwarded":
                logged = event.body["event"]
                assert isinstance(logged, dict)
                forwards[str(logged["message_id"])] += 1
    finally:
        store.close()
    twice = {k: n for k, n in by_key.items() if n != 1}
    assert not twice, f"submissions logged more than once: {twice}"
    assert not {m: n for m, n in by_id.items() if n != 1}
    assert not {m: n for m, n in forwards.items() if n != 1}, "a message forwarded twice"
    for key, message_id in submitted.items():
        assert by_key[key] == 1, f"acknowledged submission {key} ({message_id}) is not in the log"
        assert by_id[message_id] == 1
    for message_id in forwarded:
        assert "iran" in state.message(message_id).deliveries, f"acknowledged forward of {message_id} lost"
    for message_id in settled:
        delivery = state.message(message_id).deliveries["iran"]
        assert delivery.settled is not None, f"acknowledged receipt for {message_id} lost"
    if final:
        assert set(by_key) == set(submitted), "a submission in the log that was never acknowledged"
        for message_id in by_id:
            delivery = state.message(message_id).deliveries["iran"]
            assert delivery.settled is not None
            assert delivery.dead_letter is None
    return by_key


def kill_points(rng: random.Random) -> list[tuple[int, float]]:
    """Before each kill: how many submissions must be signed, then a random delay (seconds)."""
    step = MAX_SUBMISSIONS / (KILLS + 1)
    return [(round(step * k) + rng.randint(-3, 3), rng.uniform(0.0, 0.4)) for k in range(1, KILLS + 1)]


def test_kill_9_during_load_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, tmp_path / "serve.log")
    ledger = Ledger()
    plan = kill_points(random.Random(SEED))
    stop = threading.Event()
    killer_done = threading.Event()
    errors: list[BaseException] = []
    checks: list[int] = []  # submissions in the log at each crash

    def killer() -> None:
        try:
            for threshold, delay in plan:
                while ledger.signed < threshold:
                    if stop.wait(0.01):
                        return
                if stop.wait(delay):
                    return
                server.kill()
                checks.append(len(check_data_dir(data_dir, ledger)))
                if stop.is_set():
                    return
                again = server.start()
                assert (again["service_key"], again["log_key"]) == (info["service_key"], info["log_key"])
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            errors.append(e)
            stop.set()
        finally:
            killer_done.set()

    thread = threading.Thread(target=killer, name="killer", daemon=True)
    began = time.monotonic()
    try:
        info = server.start()
        build_world(server.url, info["service_key"])
        clients = [
            BackchannelClient(server.url, keys.name, keys, pinned_log_key=info["log_key"])
            for keys in (USA, QATAR, IRAN)
        ]
        usa, qatar, iran = clients
        try:
            thread.start()
            deadline = began + LOAD_WALL_SECONDS
            while not stop.is_set() and not (killer_done.is_set() and ledger.signed >= MAX_SUBMISSIONS):
                assert time.monotonic() < deadline, f"the load did not finish in {LOAD_WALL_SECONDS:g} s"
                up = usa_step(usa, ledger, new=ledger.signed < MAX_SUBMISSIONS)
                up = qatar_step(qatar, ledger) and up
                if not up:  # iran saw the outage too: it forgets its unsettled leases
                    with ledger.lock:
                        ledger.held.clear()
                up = iran_step(iran, ledger) and up
                time.sleep(0.02 if up else 0.2)
            stop.set()
            thread.join(timeout=90)
            assert not thread.is_alive(), "the killer thread did not finish"
            if errors:
                raise errors[0]
            assert len(checks) == KILLS
            assert server.starts == KILLS + 1

            # Drain: every in-doubt command re-sent until acknowledged; everything forwarded and settled.
            drain_deadline = time.monotonic() + 60
            while True:
                assert time.monotonic() < drain_deadline, "the load did not drain in 60 s"
                usa_step(usa, ledger, new=False)
                qatar_step(qatar, ledger)
                iran_step(iran, ledger)
                submitted, forwarded, settled = ledger.snapshot()
                if (
                    not ledger.in_doubt()
                    and not ledger.held
                    and set(submitted.values()) == forwarded == settled
                ):
                    break
                time.sleep(0.05)
            assert iran.inbox.lease(TRACK) == []
            assert qatar.inbox.lease(TRACK) == []
            size = qatar.log.checkpoint(TRACK).size
        finally:
            for client in clients:
                client.close()
        server.kill()
        logged = check_data_dir(data_dir, ledger, final=True)
    finally:
        stop.set()
        if thread.is_alive():  # it may be starting a server: let it finish, then kill that one
            thread.join(timeout=90)
        server.kill()
    assert len(ledger.submitted) == len(logged) == MAX_SUBMISSIONS
    assert len(ledger.settled) == MAX_SUBMISSIONS
    assert ledger.failed_sends > 0, "no command ever met a dead server: the kills missed the load"
    assert size > 2 * MAX_SUBMISSIONS + ledger.receipts // 2  # submissions, forwards, receipts
    assert "Traceback" not in server.output()
    print(
        f"crash test: {KILLS} kills, log held {checks} submissions at each; "
        f"{MAX_SUBMISSIONS} submissions forwarded and settled in {ledger.receipts} receipts; "
        f"{ledger.redelivered} unsettled deliveries leased again after a restart; {ledger.failed_sends} sends gave up, {ledger.replayed} in-doubt commands answered as replays; "
        f"log size {size}; {time.monotonic() - began:.1f} s"
    )
