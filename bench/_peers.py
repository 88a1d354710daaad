"""The brokers ``bench/channel.py`` runs beside us: RabbitMQ (two confirm modes) and NATS JetStream.

Each peer moves the same ``n`` messages of the same payload from one publisher to
one consumer on 127.0.0.1 and measures the same things as our pipeline:

- throughput: ``n`` messages as fast as the publisher's confirm mode lets it go;
- latency at an offered rate (open loop): from when a message was due to when the
  consumer read it (the due time travels in the first 8 bytes of the payload).

The peers:

- **RabbitMQ, one confirm per message**: pika ``BlockingConnection``, the blocking
  channel waits for each publisher confirm.
- **RabbitMQ, batched confirms**: pika ``SelectConnection``; the publisher sends a
  batch (up to ``batch`` messages, or all those due) and waits for the broker to
  confirm the whole batch before the next (RabbitMQ's "publishing messages in
  batches" strategy: what a user who wants throughput with confirms picks).
- **NATS JetStream, one synchronous publish per message**: ``nats-py``; each
  ``js.publish`` waits for its ``PubAck``; the consumer pulls batches and acks each.

Both RabbitMQ consumers ack each message manually with prefetch 256; the queue is
durable and each message persistent. The JetStream stream uses file storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RABBIT_HOST = "127.0.0.1"
RABBIT_PORT = 5672
NATS_URL = "nats://127.0.0.1:4222"
PREFETCH = 256
CONFIRM_BATCH = 256  # messages per confirmed batch (RabbitMQ batched confirms)


@dataclass
class PeerRun:
    """One peer run's shared state."""

    n: int
    rate: float | None
    payload: int
    started: float = 0.0
    finished: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Messages/s from the first publish to the last message consumed."""
        return self.n / (self.finished - self.started)


def _body(due: float, payload: int) -> bytes:
    return struct.pack("!d", due) + b"x" * (payload - 8)


def _due(run: PeerRun, start: float, i: int) -> float:
    """When message ``i`` is due (now when unpaced); sleeps until then."""
    if run.rate is None:
        return time.perf_counter()
    due = start + i / run.rate
    delay = due - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
    return due


def server_cpu_seconds(name: str) -> float | None:
    """User + system CPU seconds of the one process named ``name`` (``beam.smp``, ``nats-server``)."""
    found: list[float] = []
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (proc / "comm").read_text().strip() == name:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                found.append((int(fields[11]) + int(fields[12])) / tick)
    return found[0] if len(found) == 1 else None


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------
# RabbitMQ
# --------------------------------------------------------------------------


def _rabbit_parameters() -> Any:
    import pika

    return pika.ConnectionParameters(
        host=RABBIT_HOST, port=RABBIT_PORT, credentials=pika.PlainCredentials("guest", "guest"), heartbeat=0
    )


def rabbit_connection() -> Any:
    """A pika BlockingConnection to 127.0.0.1:5672 as guest."""
    import pika

    return pika.BlockingConnection(_rabbit_parameters())


def rabbit_version() -> str:
    """The server's product and version, from the connection's properties."""
    connection = rabbit_connection()
    try:
        props = connection._impl.server_properties  # noqa: SLF001 - pika has no public accessor
        decode = lambda v: v.decode() if isinstance(v, bytes) else str(v)  # noqa: E731
        return f"{decode(props.get('product', b'RabbitMQ'))} {decode(props.get('version', b'?'))}"
    finally:
        connection.close()


def _rabbit_single_publisher(run: PeerRun, queue: str) -> None:
    """Publish persistent messages, waiting for each one's confirm (the blocking channel does)."""
    import pika

    connection = rabbit_connection()
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(delivery_mode=2)
        run.ready.wait(30)
        start = run.started = time.perf_counter()
        for i in range(run.n):
            channel.basic_publish(
                "", queue, _body(_due(run, start, i), run.payload), properties, mandatory=True
            )
    finally:
        connection.close()


def _rabbit_batch_publisher(run: PeerRun, queue: str) -> None:
    """Publish persistent messages in batches, each batch confirmed whole before the next is sent."""
    import pika

    properties = pika.BasicProperties(delivery_mode=2)
    state: dict[str, Any] = {"sent": 0, "tag": 0, "outstanding": set(), "start": 0.0}

    def publish(channel: Any) -> None:
        start, i = state["start"], state["sent"]
        if run.rate is None:
            count = min(CONFIRM_BATCH, run.n - i)
        else:
            wait = start + i / run.rate - time.perf_counter()
            if wait > 0:
                channel.connection.ioloop.call_later(wait, lambda: publish(channel))
                return
            due_now = int((time.perf_counter() - start) * run.rate) + 1
            count = max(1, min(CONFIRM_BATCH, run.n - i, due_now - i))
        for k in range(count):
            due = time.perf_counter() if run.rate is None else start + (i + k) / run.rate
            channel.basic_publish("", queue, _body(due, run.payload), properties)
            state["tag"] += 1
            state["outstanding"].add(state["tag"])
        state["sent"] = i + count

    def on_confirm(frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            run.errors.append(RuntimeError(f"RabbitMQ nacked delivery tag {method.delivery_tag}"))
            frame_channel.connection.close()
            return
        outstanding: set[int] = state["outstanding"]
        if method.multiple:
            outstanding.difference_update({t for t in outstanding if t <= method.delivery_tag})
        else:
            outstanding.discard(method.delivery_tag)
        if not outstanding:
            if state["sent"] >= run.n:
                frame_channel.connection.close()
            else:
                publish(frame_channel)

    frame_channel: Any = None

    def on_channel(channel: Any) -> None:
        nonlocal frame_channel
        frame_channel = channel
        channel.confirm_delivery(on_confirm)
        run.ready.wait(30)
        state["start"] = run.started = time.perf_counter()
        publish(channel)

    def on_open(connection: Any) -> None:
        connection.channel(on_open_callback=on_channel)

    def on_failed(_connection: Any, error: BaseException) -> None:
        run.errors.append(RuntimeError(f"RabbitMQ connection failed: {error!r}"))
        _connection.ioloop.stop()

    connection = pika.SelectConnection(
        _rabbit_parameters(),
        on_open_callback=on_open,
        on_open_error_callback=on_failed,
        on_close_callback=lambda c, _reason: c.ioloop.stop(),
    )
    connection.ioloop.start()


def _rabbit_consumer(run: PeerRun, queue: str) -> None:
    """Consume with prefetch 256 and a manual ack per message until ``n`` arrived."""
    connection = rabbit_connection()
    try:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=PREFETCH)
        got = 0
        run.ready.set()
        for method, _, body in channel.consume(queue, auto_ack=False, inactivity_timeout=1.0):
            if method is None:
                if run.errors:
                    break
                continue
            run.latencies.append(time.perf_counter() - struct.unpack("!d", body[:8])[0])
            channel.basic_ack(method.delivery_tag)
            got += 1
            if got >= run.n:
                run.finished = time.perf_counter()
                break
        channel.cancel()
    finally:
        connection.close()


def rabbit_run(n: int, rate: float | None, payload: int, *, batched: bool) -> PeerRun:
    """One publisher and one consumer on a fresh durable queue (deleted afterwards)."""
    queue = f"backchannel-bench-{os.getpid()}-{secrets.token_hex(4)}"
    admin = rabbit_connection()
    try:
        admin.channel().queue_declare(queue, durable=True)
        run = PeerRun(n=n, rate=rate, payload=payload)
        publisher = _rabbit_batch_publisher if batched else _rabbit_single_publisher
        _run_threads(run, [lambda: _rabbit_consumer(run, queue), lambda: publisher(run, queue)])
        return run
    finally:
        with contextlib.suppress(Exception):
            admin.channel().queue_delete(queue)
        admin.close()


def _run_threads(run: PeerRun, targets: list[Callable[[], None]]) -> None:
    def guard(target: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                target()
            except BaseException as e:  # noqa: BLE001 - reported below
                run.errors.append(e)
                run.ready.set()

        return body

    threads = [threading.Thread(target=guard(t), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(600.0, run.n / 10))
    if run.errors:
        raise RuntimeError(f"peer run failed: {run.errors[0]!r}") from run.errors[0]
    if not run.finished:
        raise RuntimeError("peer run did not finish")


# --------------------------------------------------------------------------
# NATS JetStream
# --------------------------------------------------------------------------


def nats_version() -> str:
    """The NATS server's version, and whether JetStream answers (raises when it does not)."""
    import nats

    async def ask() -> str:
        client = await nats.connect(NATS_URL, connect_timeout=2, max_reconnect_attempts=0)
        try:
            await client.jetstream().account_info()
            version = client.connected_server_version
            return f"nats-server {version.major}.{version.minor}.{version.patch}"
        finally:
            await client.close()

    return asyncio.run(ask())


async def _nats_pipeline(run: PeerRun) -> None:
    import nats
    from nats.js.api import StorageType

    stream = f"BENCH{os.getpid()}{secrets.token_hex(3).upper()}"
    subject = f"bench.{stream.lower()}"
    client = await nats.connect(NATS_URL, max_reconnect_attempts=0)
    js = client.jetstream()
    await js.add_stream(name=stream, subjects=[subject], storage=StorageType.FILE)
    try:
        subscription = await js.pull_subscribe(subject, durable=f"c{stream.lower()}", stream=stream)

        async def publish() -> None:
            start = run.started = time.perf_counter()
            for i in range(run.n):
                if run.rate is None:
                    due = time.perf_counter()
                else:
                    due = start + i / run.rate
                    delay = due - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await js.publish(subject, _body(due, run.payload))  # waits for the PubAck

        async def consume() -> None:
            got = 0
            while got < run.n:
                try:
                    messages = await subscription.fetch(PREFETCH, timeout=1.0)
                except nats.errors.TimeoutError:
                    continue
                now = time.perf_counter()
                for message in messages:
                    run.latencies.append(now - struct.unpack("!d", message.data[:8])[0])
                    await message.ack()
                got += len(messages)
            run.finished = time.perf_counter()

        await asyncio.wait_for(asyncio.gather(consume(), publish()), timeout=max(600.0, run.n / 10))
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
        await client.close()


def nats_run(n: int, rate: float | None, payload: int) -> PeerRun:
    """One publisher (a synchronous publish per message) and one pull consumer on a fresh stream."""
    run = PeerRun(n=n, rate=rate, payload=payload)
    asyncio.run(_nats_pipeline(run))
    return run
