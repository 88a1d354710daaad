"""Benchmark the live channel end to end over HTTP on 127.0.0.1, next to RabbitMQ in the same run.

Run with ``.venv-bench/bin/python bench/channel.py [--quick]`` (``make bench`` builds
``.venv-bench``; RabbitMQ listens on 127.0.0.1:5672 with guest/guest, and NATS with
JetStream on 127.0.0.1:4222; a peer that does not answer is reported missing). Figures go
to stdout as plain text, progress to stderr.

Ours is a real ``backchannel serve`` subprocess (fresh data directory under
``.bench-tmp/channel/``, a free port) holding one track: mediator qatar,
delegations usa and iran, agenda ratified. A message travels:

1. usa submits a signed ``submit_message`` statement with a 1 KiB body (logged, fsynced);
2. qatar, the mediator, receives it on its inbox stream (SSE) and forwards it
   verbatim to iran (``forward_message``, logged, fsynced): the relay is part
   of the path, as the protocol has no direct party-to-party route;
3. iran receives the forward on its inbox stream (SSE);
4. iran settles it with a signed ``record_receipt`` (logged, fsynced); a receipt
   covers every delivery iran holds at that moment (at most 64, the delivery credit).

One client thread per actor (the producer, the relay, the consumer's stream and
its settler), each with its own connection. A message is done when the receipt
covering it is acknowledged.

Sections:

1. Throughput: N messages (default 50,000; ``--quick`` 2,000), scaled down and
   said so when the rate measured on a warm-up would need more than ~5 minutes.
2. Latency at a fixed offered rate (1,000 messages/s, or 80 % of the steady-state
   throughput when that is lower, stated): submission to delivery, open loop
   (from the moment a message was due, so a late sender does not hide queueing).
   The steady state is the rate between 20 % and 80 % of the messages settled in
   (1): neither the start-up nor the drain after the producer stopped.
3. Peak RSS (``VmHWM``) of a fresh server with 10,000 messages queued for iran.
4. Where the time goes: server CPU µs per message during (1), per-request times
   seen by the clients, Ed25519 and SQLite commit costs measured here, each stage's
   µs per message in process without HTTP (``_stages.py``: also the server-only
   rate), and (when ``py-spy`` is installed) a sampled profile of the server during (1).
5. The peers, same payload, same N, same latency method (``_peers.py``): RabbitMQ
   with batched publisher confirms (the peer users would pick) and with one
   confirm per message, and NATS JetStream with a synchronous publish per message.
6. A summary table with the targets of the issue and the ratios ours / each peer.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import _peers
import _stages
from _report import (
    LABEL_WIDTH,
    Report,
    Row,
    Target,
    count,
    figure,
    heading,
    note,
    print_context,
    print_summary,
    progress,
)
from backchannel.domain import Agenda
from backchannel.domain.agenda import ChoiceIssue, NumberIssue
from backchannel.log.canonical import JSONValue, canonicalize
from backchannel.log.signing import AgreementKey, SigningKey
from backchannel.protocol.keyfile import KeyPair
from backchannel.protocol.wire import SignedCommand, agenda_digest, enrolment_key
from backchannel.sdk import BackchannelClient, ProblemError

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / ".bench-tmp" / "channel"
TRACK = "bench-channel"
PAYLOAD = 1024  # bytes of message body
MAX_SECONDS = 300.0  # scale N down when the full run would take longer than this
IN_FLIGHT = 1_000  # the producer waits when this many messages are submitted but not settled
BATCH = 256  # the most commands per batch request
CREDIT = 256  # the delivery credit (prefetch) the server is started with, as RabbitMQ's prefetch
LATENCY_RATE = 1_000.0
KIB = 1024
SERVER_LOOP: list[str] = []  # --loop for backchannel serve, when given
CLI = [sys.executable, "-c", "from backchannel.cli.main import main; main()"]
AGENDA = Agenda(
    1,
    (
        NumberIssue("enrichment_cap_pct", "%", 0, 90, 0.01),
        ChoiceIssue("sanctions_relief", ("none", "tier-1", "full")),
    ),
)


def pair(seed: int, name: str) -> KeyPair:
    """Deterministic keys for one member."""
    return KeyPair(
        name,
        SigningKey.from_seed(bytes([seed]) * 32),
        AgreementKey.from_private_bytes(bytes([seed + 100]) * 32),
    )


QATAR = pair(2, "qatar/principal")
USA = pair(3, "usa/principal")
IRAN = pair(4, "iran/principal")


@dataclass(frozen=True, slots=True)
class Scale:
    """How much work each section does."""

    name: str
    messages: int
    latency_seconds: float
    queued: int


FULL = Scale("full", messages=50_000, latency_seconds=10.0, queued=10_000)
QUICK = Scale("quick", messages=2_000, latency_seconds=3.0, queued=1_000)


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def ms(seconds: float) -> str:
    """Format seconds as milliseconds."""
    return f"{seconds * 1000:,.2f} ms"


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_status_kib(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmHWM``, ``VmRSS``) in KiB; 0 if gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith(f"{field_name}:"):
            return int(line.split()[1])
    return 0


class Server:
    """``backchannel serve`` as a subprocess on 127.0.0.1 with a fresh data directory."""

    def __init__(self, name: str) -> None:
        self.data_dir = SCRATCH / f"{name}-{os.getpid()}"
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = self.data_dir.with_suffix(".log")
        command = [
            *CLI,
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--credit",
            str(CREDIT),
            "--admit-key",  # the operator admits the mediator (issue #8)
            QATAR.signing.key_id,
            *(["--loop", SERVER_LOOP[0]] if SERVER_LOOP else []),
        ]
        with self.log_file.open("wb") as log:
            self.proc = subprocess.Popen(
                [*command, "--port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.info = self._wait_until_up()

    @property
    def pid(self) -> int:
        """The server's process id (the Python process itself: no shell in between)."""
        return self.proc.pid

    def _wait_until_up(self) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve exited with {self.proc.returncode}: {self.output()}")
            with contextlib.suppress(httpx.TransportError):
                response = httpx.get(self.url + "/v1/service", timeout=2)
                if response.status_code == 200:
                    info: dict[str, Any] = response.json()
                    return info
            time.sleep(0.05)
        raise RuntimeError(f"serve did not answer within 30 s: {self.output()}")

    def output(self) -> str:
        """The end of the server's log."""
        return self.log_file.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGINT (a graceful uvicorn shutdown), SIGKILL after 15 s; then remove the data."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log_file.unlink(missing_ok=True)

    def client(self, keys: KeyPair) -> BackchannelClient:
        """An SDK client for one member, pinned to this server's log key."""
        return BackchannelClient(self.url, keys.name, keys, pinned_log_key=self.info["log_key"])


def build_world(server: Server) -> None:
    """Open the track: mediator qatar, delegations usa and iran, agenda proposed and ratified."""
    with server.client(QATAR) as qatar:
        qatar.execute("open_track", {
            "title": "Channel benchmark", "principal_key": enrolment_key(QATAR),
            "service_key": {**server.info["service_key"], "expires_at": None},
        }, track=TRACK)  # fmt: skip
        for party, principal in (("usa", USA), ("iran", IRAN)):
            qatar.execute("admit_party", {
                "party": party, "kind": "delegation", "principal": principal.name,
                "principal_key": enrolment_key(principal),
            }, track=TRACK)  # fmt: skip
        qatar.execute("propose_agenda", {"agenda": AGENDA.to_dict()}, track=TRACK)
    for principal in (USA, IRAN):
        with server.client(principal) as client:
            client.execute(
                "ratify_agenda", {"version": 1, "agenda_digest": agenda_digest(AGENDA).hex()}, track=TRACK
            )


def statement(text: str) -> dict[str, JSONValue]:
    """A ``submit_message`` body: a routine statement."""
    return {
        "kind": "statement", "body": {"text": text}, "priority": "routine",
        "in_reply_to": None, "annexes": [], "agenda_version": None,
    }  # fmt: skip


# --------------------------------------------------------------------------
# The pipeline: producer (usa), relay (qatar), consumer (iran: stream + settler)
# --------------------------------------------------------------------------


@dataclass
class Run:
    """One pipeline run's shared state."""

    n: int
    phase: str
    rate: float | None  # offered messages/s (open loop); None: as fast as possible
    relay: bool = True
    consume: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Condition = field(init=False)
    stop: threading.Event = field(default_factory=threading.Event)
    due: dict[str, float] = field(default_factory=dict)  # message id -> when it was due (perf_counter)
    delivered: dict[str, float] = field(default_factory=dict)  # message id -> when iran got it
    forwarded: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)  # delivered to iran, not yet settled
    settled: int = 0
    submitted: int = 0
    started: float = 0.0
    finished: float = 0.0
    timings: dict[str, list[float]] = field(default_factory=dict)
    batch_sizes: list[int] = field(default_factory=list)
    batch_sizes_by_kind: dict[str, list[int]] = field(default_factory=dict)
    marks: list[tuple[float, int]] = field(default_factory=list)  # (when, settled so far) per receipt
    capped: bool = False  # the time cap was reached: n became the number submitted by then
    retries: Counter[str] = field(default_factory=Counter)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        """The condition shares the lock."""
        self.wake = threading.Condition(self.lock)

    def time(self, kind: str, seconds: float) -> None:
        """Record one request's duration."""
        self.timings.setdefault(kind, []).append(seconds)


def send(client: BackchannelClient, signed: SignedCommand, run: Run, kind: str) -> dict[str, Any]:
    """Send a signed command; on a 429 (a full queue) or a 409 lost race, wait a little and resend it.

    A lost race (several nodes on one track, ``bench/scaleout.py``) is safe to resend: it is the same
    signed command, and its idempotency key makes a landed one a no-op.
    """
    while True:
        began = time.perf_counter()
        try:
            result = client.send_command(signed)
        except ProblemError as e:
            lost_race = e.status == 409 and "append races" in str(e)
            if (e.status != 429 and not lost_race) or run.stop.is_set():
                raise
            run.retries[kind] += 1
            time.sleep(0.05)
            continue
        run.time(kind, time.perf_counter() - began)
        return result


def send_batch(client: BackchannelClient, signed: Sequence[SignedCommand], run: Run, kind: str) -> None:
    """Send signed commands as batches (group commit); resend the ones refused with 429 (a full queue)."""
    todo = list(signed)
    while todo:
        began = time.perf_counter()
        try:
            results = client.send_batch(todo)
        except ProblemError as e:  # the whole group lost its append races: resend the same batch
            if e.status != 409 or "append races" not in str(e) or run.stop.is_set():
                raise
            run.retries[kind] += len(todo)
            time.sleep(0.05)
            continue
        run.time(kind, time.perf_counter() - began)
        run.batch_sizes_by_kind.setdefault(kind, []).append(len(todo))
        again = []
        for command, result in zip(todo, results, strict=True):
            lost_race = result["status"] == 409 and "append races" in json.dumps(result.get("problem"))
            if (result["status"] == 429 or lost_race) and not run.stop.is_set():
                again.append(command)
            elif result["status"] not in {200, 201}:
                raise RuntimeError(f"{kind} refused: {result['problem']}")
        if again:
            run.retries[kind] += len(again)
            time.sleep(0.05)
        todo = again


def producer(server: Server, run: Run) -> None:
    """usa: one logical producer sending batches: as many as the in-flight window allows, or all those due."""
    text = ("x" * PAYLOAD)[:PAYLOAD]
    with server.client(USA) as usa:
        start = time.perf_counter()
        run.started = start
        i = 0
        while not run.stop.is_set() and i < run.n:  # run.n shrinks when the time cap is reached
            if run.rate is None:
                with run.wake:
                    while run.consume and run.submitted - run.settled >= IN_FLIGHT and not run.stop.is_set():
                        run.wake.wait(0.5)
                    room = IN_FLIGHT - (run.submitted - run.settled) if run.consume else BATCH
                count = max(1, min(BATCH, room, run.n - i))
                dues = [time.perf_counter()] * count
            else:
                due = start + i / run.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                now = time.perf_counter()  # every message due by now goes in this batch
                count = max(1, min(BATCH, run.n - i, int((now - start) * run.rate) + 1 - i))
                dues = [start + (i + k) / run.rate for k in range(count)]
            signed = [
                usa.sign(
                    "submit_message", statement(text), track=TRACK, idempotency_key=f"{run.phase}-{i + k}"
                )
                for k in range(count)
            ]
            with run.lock:
                for command, due in zip(signed, dues, strict=True):
                    run.due[command.digest.hex()] = due
            send_batch(usa, signed, run, "submit")
            i += count
            with run.lock:
                run.submitted += count


def forward(message_id: str) -> dict[str, JSONValue]:
    """A verbatim forward of ``message_id`` to iran."""
    return {"message_id": message_id, "to_parties": ["iran"]}


def relay(server: Server, run: Run) -> None:
    """qatar: long-poll its inbox and forward everything it got to iran in one batch."""
    with server.client(QATAR) as qatar:
        while not run.stop.is_set():
            fresh = [
                d["message_id"]
                for d in qatar.inbox.poll(TRACK, timeout=1.0)
                if d["message_id"] not in run.forwarded
            ]
            if not fresh:
                continue
            signed = [
                qatar.sign(
                    "forward_message",
                    {"message_id": m, "to_parties": ["iran"]},
                    track=TRACK,
                    idempotency_key=f"fwd-{m}",
                )
                for m in fresh
            ]
            send_batch(qatar, signed, run, "forward")
            with run.wake:
                run.forwarded.update(fresh)
                run.wake.notify_all()


def consumer(server: Server, run: Run) -> None:
    """iran: take deliveries off its inbox stream; the settler thread receipts them."""
    last: int | None = None
    with server.client(IRAN) as iran:
        while not run.stop.is_set():
            for delivery in iran.inbox.stream(TRACK, last_event_id=last, timeout=1.0):
                now = time.perf_counter()
                message_id = delivery["message_id"]
                index = int(delivery["log_index"])
                last = max(last or 0, index)
                with run.wake:
                    if message_id not in run.delivered:
                        run.delivered[message_id] = now
                        run.pending[message_id] = index
                        run.wake.notify_all()
                if run.stop.is_set():
                    return


def settler(server: Server, run: Run) -> None:
    """iran: settle everything delivered so far with one receipt, again and again."""
    receipts = 0
    with server.client(IRAN) as iran:
        while True:
            with run.wake:
                while not run.pending and run.settled < run.n and not run.stop.is_set():
                    run.wake.wait(0.5)
                if run.settled >= run.n or run.stop.is_set():
                    return
                batch, run.pending = run.pending, {}
            ids = list(batch)
            body: dict[str, JSONValue] = {
                "items": [[message_id, index] for message_id, index in batch.items()],
                "receipt_digest": receipt_hex(batch),
            }
            signed = iran.sign(
                "record_receipt", body, track=TRACK, idempotency_key=f"{run.phase}-r{receipts}"
            )
            receipts += 1
            send(iran, signed, run, "settle")
            with run.wake:
                run.settled += len(ids)
                run.batch_sizes.append(len(ids))
                run.marks.append((time.perf_counter(), run.settled))
                if run.settled >= run.n:
                    run.finished = time.perf_counter()
                run.wake.notify_all()


def receipt_hex(delivered: Mapping[str, int]) -> str:
    """``receipt_digest`` as the SDK computes it, for message id -> the log index that delivered it."""
    from backchannel.sdk import receipt_digest

    return receipt_digest(delivered.items()).hex()


def guarded(run: Run, target: Callable[[Server, Run], None], server: Server) -> Callable[[], None]:
    """Run ``target``; on an error record it and stop the run."""

    def body() -> None:
        try:
            target(server, run)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            with run.wake:
                run.errors.append(e)
                run.stop.set()
                run.wake.notify_all()

    return body


def run_pipeline(
    server: Server, run: Run, done: Callable[[Run], bool], limit: float, cap: float | None = None
) -> None:
    """Start the actors, wait until ``done`` (or ``limit`` seconds), stop them.

    After ``cap`` seconds the producer stops: ``run.n`` becomes the number submitted so
    far (the ones in flight are still relayed, delivered and settled).
    """
    actors = [producer]
    if run.relay:
        actors.append(relay)
    if run.consume:
        actors += [consumer, settler]
    threads = [threading.Thread(target=guarded(run, a, server), name=a.__name__, daemon=True) for a in actors]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + limit
    last_report = time.monotonic()
    with run.wake:
        while not done(run) and not run.stop.is_set():
            if time.monotonic() > deadline:
                run.errors.append(TimeoutError(f"{run.phase}: not done after {limit:.0f} s"))
                break
            run.wake.wait(0.5)
            if cap is not None and not run.capped and run.started and time.perf_counter() - run.started > cap:
                run.capped = True
                run.n = run.submitted + 1  # the one being sent, if any, counts too
                progress(f"  {run.phase}: time cap of {cap:.0f} s reached; finishing {run.n:,} messages")
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                progress(
                    f"  {run.phase}: submitted {run.submitted:,}, forwarded {len(run.forwarded):,}, "
                    f"delivered {len(run.delivered):,}, settled {run.settled:,} of {run.n:,}"
                )
        run.stop.set()
        run.wake.notify_all()
    for thread in threads:
        thread.join(timeout=30)
    if run.errors:
        raise RuntimeError(f"{run.phase} failed: {run.errors[0]!r}\n{server.output()}") from run.errors[0]


def throughput(server: Server, n: int, phase: str, cap: float | None = None) -> tuple[float, Run]:
    """Messages/s for ``n`` messages (fewer when ``cap`` seconds pass first), as fast as the actors go."""
    run = Run(n=n, phase=phase, rate=None)
    run_pipeline(server, run, lambda r: r.settled >= r.n, limit=max(1200.0, n / 5), cap=cap)
    return run.settled / (run.finished - run.started), run


def rate_curve(run: Run, slices: int = 5) -> list[tuple[int, int, float]]:
    """Messages/s over equal slices of the settled count: ``(first, last, rate)``."""
    curve: list[tuple[int, int, float]] = []
    before_t, before_n = run.started, 0
    for k in range(1, slices + 1):
        goal = math.ceil(run.settled * k / slices)
        when, settled = next((t, s) for t, s in run.marks if s >= goal)
        if settled > before_n:
            curve.append((before_n + 1, settled, (settled - before_n) / (when - before_t)))
            before_t, before_n = when, settled
    return curve


def latency(server: Server, rate: float, seconds: float, phase: str) -> tuple[list[float], Run]:
    """Submission (when due) to delivery, at ``rate`` messages/s for ``seconds``."""
    n = max(1, round(rate * seconds))
    run = Run(n=n, phase=phase, rate=rate)
    run_pipeline(server, run, lambda r: r.settled >= r.n, limit=seconds * 20 + 60)
    return [run.delivered[m] - run.due[m] for m in run.delivered if m in run.due], run


# --------------------------------------------------------------------------
# Where the time goes
# --------------------------------------------------------------------------


def py_spy() -> str | None:
    """The ``py-spy`` executable next to this Python, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def sampled(pid: int, out: Path, enabled: bool) -> Iterator[Path | None]:
    """Sample ``pid`` with py-spy (raw collapsed stacks, all threads, not idle) while the block runs."""
    exe = py_spy()
    if not enabled or exe is None:
        yield None
        return
    command = [exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
    proc = subprocess.Popen(
        [*command, "--rate", "200", "--nonblocking", "--threads"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield out
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Leaf-most frame wins: the first rule (in this order) matching a frame, walking from the leaf.
CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQLite (commit = fsync, queries)", ("backchannel/store/sqlite.py", "sqlite3")),
    ("Ed25519 sign / verify", ("backchannel/log/signing.py", "cryptography/")),
    ("RFC 9421 request signatures (non-crypto)", ("backchannel/httpsig.py",)),
    ("canonical JSON (RFC 8785)", ("backchannel/log/canonical.py",)),
    ("Merkle tree, checkpoints", ("backchannel/log/tree.py", "backchannel/log/merkle.py", "checkpoint.py")),
    ("delivery queues", ("backchannel/broker/", "backchannel/service/delivery.py")),
    ("domain decode / validation", ("backchannel/domain/", "backchannel/wire.py")),
    ("log writer, track service", ("backchannel/service/",)),
    ("API handlers", ("backchannel/api/",)),
    (
        "HTTP stack (uvicorn, h11, starlette, fastapi, pydantic)",
        ("uvicorn", "h11", "starlette", "fastapi", "pydantic"),
    ),
    ("asyncio, anyio, threads", ("asyncio", "anyio", "threading.py", "concurrent/")),
)


def classify(stack: str) -> str:
    """The category of one ``;``-joined py-spy stack (root first)."""
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in CATEGORIES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def profile_summary(path: Path) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """Shares of active samples per category and per leaf-most backchannel function, largest first."""
    totals: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    if not path.exists():
        return [], []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            totals[classify(";".join(frames))] += int(samples)
            ours = next((f for f in reversed(frames) if "backchannel/" in f), "(outside backchannel)")
            if ours.startswith("serve.<locals>.body"):
                ours = "(the event loop thread: uvicorn, asyncio, SSE)"
            functions[re.sub(r":\d+\)$", ")", ours)] += int(samples)
    total = sum(totals.values())
    if not total:
        return [], []
    share = lambda c: [(name, value / total) for name, value in c.most_common()]  # noqa: E731
    return share(totals), share(functions)[:8]


def ed25519_cost(size: int, ops: int = 2_000) -> tuple[float, float]:
    """Seconds per Ed25519 signature and verification of a ``size``-byte message (median of 3)."""
    key = SigningKey.from_seed(b"\x07" * 32)
    message = secrets.token_bytes(size)
    signature = key.sign(message)
    verifier = key.verifying_key

    def sign() -> float:
        began = time.perf_counter()
        for _ in range(ops):
            key.sign(message)
        return (time.perf_counter() - began) / ops

    def verify() -> float:
        began = time.perf_counter()
        for _ in range(ops):
            verifier.verify(signature, message)
        return (time.perf_counter() - began) / ops

    return statistics.median(sign() for _ in range(3)), statistics.median(verify() for _ in range(3))


def commit_cost(directory: Path, commits: int = 200) -> float:
    """Seconds per SQLite commit of one ~2 KiB row (WAL, ``synchronous=FULL``) in ``directory``."""
    path = directory / f"commit-{os.getpid()}.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
        row = secrets.token_bytes(2 * KIB)
        began = time.perf_counter()
        for _ in range(commits):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (body) VALUES (?)", (row,))
            conn.execute("COMMIT")
        return (time.perf_counter() - began) / commits
    finally:
        conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def command_size() -> int:
    """Bytes of one canonical signed 1 KiB ``submit_message`` (what is signed, sent and logged)."""
    client = BackchannelClient("http://127.0.0.1:9", USA.name, USA)
    try:
        signed = client.sign("submit_message", statement("x" * PAYLOAD), track=TRACK, idempotency_key="size")
        return len(canonicalize(signed.to_dict()))
    finally:
        client.close()


def print_timings(run: Run) -> None:
    """Per-request times seen by the clients during a run."""
    for kind in ("submit", "forward", "settle"):
        values = run.timings.get(kind, [])
        if values:
            figure(f"{kind}: requests", count(len(values)))
            figure(
                f"{kind}: p50 / p99 request time",
                f"{ms(percentile(values, 50))} / {ms(percentile(values, 99))}",
            )
    if run.batch_sizes:
        figure("messages per receipt (mean)", f"{statistics.fmean(run.batch_sizes):.1f}")
    for kind, sizes in sorted(run.batch_sizes_by_kind.items()):
        figure(f"{kind}: commands per batch request (mean)", f"{statistics.fmean(sizes):.1f}")
    for kind, retried in sorted(run.retries.items()):
        figure(f"{kind}: 429 retries", count(retried))


def bench_profile(run: Run, rate: float, samples: Path | None, report: Report) -> None:
    """Section 4."""
    heading("[4] Where the time per message goes (ours)")
    progress("component costs")
    size = command_size()
    sign, verify = ed25519_cost(size)
    commit = commit_cost(SCRATCH)
    print_timings(run)
    figure("signed submit_message, canonical bytes", count(size))
    figure(f"Ed25519 sign, {size:,}-byte message (this process)", ms(sign))
    figure(f"Ed25519 verify, {size:,}-byte message (this process)", ms(verify))
    figure("SQLite commit of one 2 KiB row, WAL + synchronous=FULL", ms(commit))
    per_message = 1 / rate
    figure("wall time per message at the measured throughput", ms(per_message))
    per_receipt = 1 / statistics.fmean(run.batch_sizes) if run.batch_sizes else 1.0
    per_batch = {k: 1 / statistics.fmean(v) for k, v in run.batch_sizes_by_kind.items() if v}
    commits = per_batch.get("submit", 1.0) + per_batch.get("forward", 1.0) + per_receipt
    note(
        f"each message costs {2 + per_receipt:.2f} logged commands (submit, forward, "
        f"1/{1 / per_receipt:.1f} of a receipt), each a signed command to verify and a signed log entry; "
        "submissions and forwards travel in batch requests (one RFC 9421 signature, one group commit each), "
        f"so a message costs about {commits:.3f} fsynced SQLite commits; "
        "plus the SSE event that carries it to iran"
    )
    figure("lower bound from fsync alone (commits x commit cost)", ms(commits * commit))
    figure(
        "share of the wall time per message spent in those commits", f"{commits * commit / per_message:.0%}"
    )
    if samples is None:
        note("no py-spy profile: install py-spy into .venv-bench to sample the server during section 1")
        return
    shares, functions = profile_summary(samples)
    if not shares:
        note("py-spy produced no samples (ptrace not permitted?)")
        return
    note("py-spy on the server during section 1: share of active samples, all threads, by leaf-most category")
    for name, share in shares:
        figure(f"  {name}", f"{share:.1%}")
    note("the same samples by leaf-most backchannel function (the line number dropped)")
    for name, share in functions:
        figure(f"  {name[: LABEL_WIDTH - 2]}", f"{share:.1%}")
    note(f"raw py-spy stacks kept in {samples.relative_to(REPO)}")
    report.add(Row("profile: top server category (share of samples)", f"{shares[0][1]:.0%}", shares[0][0]))


# --------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------


@dataclass
class Ours:
    """Our figures, kept for the comparison."""

    n: int = 0
    rate: float = 0.0
    latency_rate: float = 0.0
    p50: float = math.nan
    p99: float = math.nan
    cpu_us: float = math.nan


def bench_ours(scale: Scale, report: Report, profile: bool) -> Ours:
    """Sections 1, 2 and 4 on one server."""
    ours = Ours()
    progress("starting backchannel serve (throughput and latency)")
    server = Server("serve")
    try:
        build_world(server)
        heading(f"[1] Throughput, ours: one producer, one consumer, {PAYLOAD:,}-byte statements")
        note(
            "path: usa submit -> qatar SSE + forward_message -> iran SSE -> iran record_receipt; "
            f"done when the receipt is acknowledged; at most {IN_FLIGHT:,} messages in flight"
        )
        progress(f"throughput: {scale.messages:,} messages, at most {MAX_SECONDS:.0f} s")
        cpu_before = _peers.process_cpu_seconds(server.pid)
        with sampled(server.pid, SCRATCH / f"profile-{os.getpid()}.txt", profile) as samples:
            rate, run = throughput(server, scale.messages, "throughput", cap=MAX_SECONDS)
        ours.cpu_us = (_peers.process_cpu_seconds(server.pid) - cpu_before) / max(1, run.settled) * 1e6
        ours.rate, ours.n = rate, run.settled
        if run.capped:
            note(
                f"N scaled down from {scale.messages:,} to {run.settled:,}: the producer stopped after "
                f"{MAX_SECONDS:.0f} s and the messages in flight were finished; the peers run the same N"
            )
        figure("N (messages settled)", count(run.settled))
        figure("messages / s", count(rate))
        figure("elapsed", f"{run.finished - run.started:,.1f} s")
        curve = rate_curve(run)
        for first, last, slice_rate in curve:
            figure(f"  messages / s for messages {first:,} to {last:,}", count(slice_rate))
        note("the rate over equal fifths of the run: a falling rate means a cost that grows with the log")
        figure("server CPU per message (user + system, all threads)", f"{ours.cpu_us:,.0f} us")
        hwm = proc_status_kib(server.pid, "VmHWM") / KIB
        figure("server VmHWM after section 1", f"{hwm:,.1f} MiB")
        report.add(
            Row(
                "server peak RSS during the run (MiB)",
                f"{hwm:,.1f}",
                target=Target("<", 150.0, "< 150"),
                value=hwm,
            )
        )

        current = steady_rate(run)
        figure("steady-state messages / s (20 % to 80 % of the messages)", count(current))
        offered = LATENCY_RATE if current * 0.8 >= LATENCY_RATE else max(1.0, math.floor(current * 0.8))
        ours.latency_rate = offered
        heading(f"[2] Latency, ours: submission to delivery at {offered:,.0f} messages/s offered")
        if offered < LATENCY_RATE:
            note(
                f"{LATENCY_RATE:,.0f} messages/s is above 80 % of our steady-state throughput "
                f"({current:,.0f}/s): measured at 80 % of that, on the same server and log; "
                "an open-loop load above the throughput only grows the queue"
            )
        progress(f"latency: {offered:,.0f} messages/s for {scale.latency_seconds:g} s")
        lat, lat_run = latency(server, offered, scale.latency_seconds, "latency")
        ours.p50, ours.p99 = percentile(lat, 50), percentile(lat, 99)
        figure("messages", count(len(lat)))
        figure("p50", ms(ours.p50))
        figure("p99", ms(ours.p99))
        figure("max", ms(max(lat)))
        figure("achieved submissions / s", count(lat_run.n / (lat_run.finished - lat_run.started)))
        note("latency is from when a submission was due (open loop) to iran reading it off its SSE stream")
        report.add(Row("messages / s over HTTP, end to end", count(ours.rate)))
        report.add(
            Row(
                f"p99 submission -> delivery at {offered:,.0f}/s (ms)",
                f"{ours.p99 * 1000:.2f}",
                target=Target("<=", 10.0, "<= 10 (at 1,000/s)"),
                value=ours.p99 * 1000 if offered >= LATENCY_RATE else math.inf,
            )
        )

        heading("[3] Peak RSS of the server, ours")  # printed after the queue is built, below
        bench_rss(scale, report)
        bench_profile(run, rate, samples, report)
        bench_stages(scale, report)
    finally:
        server.stop()
    return ours


def bench_stages(scale: Scale, report: Report) -> None:
    """Section 4b: the server's path in process, without HTTP, and each stage's µs per message."""
    n = min(scale.messages, 10_000)
    progress(f"in process: {n:,} messages")
    stages = _stages.in_process(
        SCRATCH / f"inproc-{os.getpid()}",
        mediator=QATAR, sender=USA, recipient=IRAN, track=TRACK, agenda=AGENDA, statement=statement,
        payload=PAYLOAD, messages=n, round_size=BATCH,
    )  # fmt: skip
    heading(f"[4b] In process, server only (no HTTP): {stages.messages:,} messages in rounds of {BATCH}")
    note(
        "usa's submissions as one group, qatar's forwards as one group, iran's leases rendered as SSE "
        "frames and one receipt per round; commands signed before the clock starts (client work)"
    )
    for name, us in stages.per_message_us():
        figure(f"  {name}: us per message", f"{us:,.0f}")
    rate = stages.messages / stages.total
    figure("CPU per message, server only (every thread)", f"{stages.cpu / stages.messages * 1e6:,.0f} us")
    figure("messages / s, server only", count(rate))
    report.add(
        Row(
            "messages / s in process, server only",
            count(rate),
            target=Target(">=", 3000, ">= 3,000"),
            value=rate,
        )
    )


def steady_rate(run: Run) -> float:
    """Messages/s between 20 % and 80 % of the messages settled: no start-up, no drain."""
    low, high = run.settled * 0.2, run.settled * 0.8
    inside = [(t, s) for t, s in run.marks if low <= s <= high]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return run.settled / (run.finished - run.started)
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def bench_rss(scale: Scale, report: Report) -> None:
    """Section 3: a fresh server, ``scale.queued`` messages submitted and forwarded to iran, none consumed."""
    progress(f"starting a fresh server for the RSS section ({scale.queued:,} queued)")
    server = Server("rss")
    try:
        build_world(server)
        idle = proc_status_kib(server.pid, "VmRSS")
        run = Run(n=scale.queued, phase="rss", rate=None, consume=False)
        run_pipeline(server, run, lambda r: len(r.forwarded) >= r.n, limit=max(600.0, scale.queued / 2))
        hwm = proc_status_kib(server.pid, "VmHWM")
        rss = proc_status_kib(server.pid, "VmRSS")
        note(
            f"a fresh server; usa submitted {scale.queued:,} messages, qatar forwarded each, "
            "iran never connected"
        )
        figure("server VmRSS with the track open, idle", f"{idle / KIB:,.1f} MiB")
        figure(f"server VmHWM with {scale.queued:,} queued for iran", f"{hwm / KIB:,.1f} MiB")
        figure(f"server VmRSS with {scale.queued:,} queued for iran", f"{rss / KIB:,.1f} MiB")
        metric = f"server peak RSS, {scale.queued:,} queued (MiB)"
        report.add(Row(metric, f"{hwm / KIB:,.1f}", target=Target("<", 120.0, "< 120"), value=hwm / KIB))
    finally:
        server.stop()


PEERS: tuple[tuple[str, str], ...] = (
    ("rabbit-batched", "RabbitMQ, batched confirms"),
    ("rabbit-single", "RabbitMQ, one confirm per message"),
    ("nats", "NATS JetStream, sync publish"),
)


def peer_run(peer: str, n: int, rate: float | None) -> _peers.PeerRun:
    """One run of ``peer`` with our payload."""
    if peer == "nats":
        return _peers.nats_run(n, rate, PAYLOAD)
    return _peers.rabbit_run(n, rate, PAYLOAD, batched=peer == "rabbit-batched")


def peer_version(peer: str) -> str:
    """The peer server's product and version (raises when it does not answer)."""
    return _peers.nats_version() if peer == "nats" else _peers.rabbit_version()


def bench_peers(scale: Scale, ours: Ours, report: Report) -> None:
    """Section 5 and the comparison rows (every peer in this run, after ours)."""
    heading("[5] The peers on 127.0.0.1, same workload, same N")
    note(
        f"RabbitMQ: pika {importlib.metadata.version('pika')}, durable queue, delivery_mode=2, manual ack "
        f"per message, prefetch {_peers.PREFETCH}; batched: a batch of up to {_peers.CONFIRM_BATCH} "
        "(or all those due) confirmed whole before the next; single: the blocking channel waits for each "
        f"confirm. NATS: nats-py {importlib.metadata.version('nats-py')}, file-storage stream, each "
        "publish waits for its PubAck, pull consumer acking each message"
    )
    note(
        "server CPU per message reads the broker's /proc counters; the brokers are shared with the other "
        "users of this machine, so it is an upper bound"
    )
    rates = [ours.latency_rate] + ([LATENCY_RATE] if ours.latency_rate != LATENCY_RATE else [])
    for peer, label in PEERS:
        try:
            version = peer_version(peer)
        except Exception as e:  # noqa: BLE001 - a peer is optional; say why it is missing
            note(f"{label}: not reachable ({e!r}): no figures")
            continue
        progress(f"{label}: throughput, {ours.n:,} messages")
        process = "nats-server" if peer == "nats" else "beam.smp"
        cpu_before = _peers.server_cpu_seconds(process)
        run = peer_run(peer, ours.n, None)
        cpu_after = _peers.server_cpu_seconds(process)
        figure(f"{label} ({version}): messages / s", count(run.throughput))
        if cpu_before is not None and cpu_after is not None:
            figure(f"{label}: server CPU per message", f"{(cpu_after - cpu_before) / ours.n * 1e6:,.0f} us")
        p99_same = math.nan
        for offered in rates:
            progress(f"{label}: latency at {offered:,.0f} messages/s")
            lat = peer_run(peer, max(1, round(offered * scale.latency_seconds)), offered).latencies
            figure(
                f"{label}: p50 / p99 at {offered:,.0f} messages/s",
                f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 99))}",
            )
            if offered == ours.latency_rate:
                p99_same = percentile(lat, 99)
        ratio = ours.rate / run.throughput
        target = Target(">=", 1.0, ">= 1.0x") if peer == "rabbit-batched" else None
        report.add(
            Row(
                f"messages / s, ours vs {label}",
                count(ours.rate),
                count(run.throughput),
                f"{ratio:.3f}x",
                target,
                ratio,
            )
        )
        report.add(
            Row(
                f"p99 at {ours.latency_rate:,.0f}/s (ms), {label}",
                f"{ours.p99 * 1000:.2f}",
                f"{p99_same * 1000:.2f}",
                f"{ours.p99 / p99_same:.1f}x",
            )
        )


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="a scaled-down smoke run (about a minute)")
    parser.add_argument("--no-profile", action="store_true", help="do not sample the server with py-spy")
    parser.add_argument("--no-peers", action="store_true", help="ours only (for A/B runs of our changes)")
    parser.add_argument("--loop", help="pass --loop to backchannel serve (auto, asyncio, uvloop)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> None:
    """Run every section."""
    args = parse_args(argv)
    scale = QUICK if args.quick else FULL
    if args.loop:
        SERVER_LOOP.append(args.loop)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    report = Report()
    print_context("channel benchmark", scale.name)
    ours = bench_ours(scale, report, profile=not args.no_profile)
    if not args.no_peers:
        bench_peers(scale, ours, report)
    print_summary(report, "[6] Summary (ratio: ours / each peer)")


if __name__ == "__main__":
    main(sys.argv[1:])
