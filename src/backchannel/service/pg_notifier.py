"""Wake-ups between nodes of one PostgreSQL database: ``LISTEN``/``NOTIFY`` (ADR-0060).

:class:`PostgresNotifier` fits the :class:`~backchannel.service.notifier.Notifier`
port for nodes that share a PostgreSQL schema:

- :meth:`~PostgresNotifier.announce` (after this node's commit) calls this
  node's listeners at once and sends ``NOTIFY <channel>, '<track>'`` per track
  (through ``send``: :meth:`~backchannel.store.postgres_delivery_state.PostgresDeliveryState.notify`).
  Lease claims notify inside their own transaction, so they are heard only once committed.
- A thread holds one dedicated connection that listens (``LISTEN``) on the schema's
  channel (:func:`~backchannel.store.postgres_delivery_state.channel_name`:
  several deployments and tests share one server) and calls the listeners
  with the tracks named, within milliseconds of the other node's commit. The
  node hears its own notifications too: a second wake-up, harmless.
- A lost listening connection (a restarted server, a killed backend, a network
  cut) is reconnected with a bounded backoff (``retry`` doubling up to
  ``max_retry``). Notifications sent while it was down are lost, so once it
  listens again it reports **every** track as changed once (``tracks``): a
  stream or long poll re-reads, nothing is missed.

The thread waits for notifications at most ``tick`` seconds at a time, so
:meth:`~PostgresNotifier.stop` returns within about that. This module needs psycopg.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql

from backchannel.errors import ConfigurationError
from backchannel.service.notifier import LocalNotifier
from backchannel.store._pg_schema import redact

__all__ = ["PostgresNotifier"]

_log = logging.getLogger(__name__)


class PostgresNotifier(LocalNotifier):
    """Announcements of this node, and every other node's, through ``LISTEN``/``NOTIFY``.

    Args:
        url: The store's connection URL (the listening connection opens its own).
        channel: The schema's channel name.
        send: Sends one ``NOTIFY`` per track named (after this node's commit).
        tracks: Every track of the store (what is reported after a reconnection).
        tick: The longest wait for a notification before looking at :meth:`stop` (seconds).
        retry: The first wait before reconnecting (seconds); doubles on each failure.
        max_retry: The longest wait before reconnecting (seconds).
        connect_timeout: Seconds to wait for the server when (re)connecting.

    Raises:
        ConfigurationError: a wait that is not positive, or ``max_retry < retry``.
    """

    def __init__(  # noqa: PLR0913 - where, what to send and report, and the timings, keyword-only
        self,
        url: str,
        channel: str,
        *,
        send: Callable[[Iterable[str]], None],
        tracks: Callable[[], Iterable[str]],
        tick: float = 0.25,
        retry: float = 0.05,
        max_retry: float = 2.0,
        connect_timeout: float = 5.0,
    ) -> None:
        """Not started yet (:meth:`start`)."""
        super().__init__()
        if min(tick, retry, connect_timeout) <= 0 or max_retry < retry:
            raise ConfigurationError(
                f"notifier waits must be positive and max_retry >= retry, got tick={tick}, "
                f"retry={retry}, max_retry={max_retry}, connect_timeout={connect_timeout}"
            )
        self._url = url
        self._where = redact(url)
        self.channel = channel
        """The channel listened on."""
        self._send = send
        self._tracks = tracks
        self._tick = tick
        self._retry = retry
        self._max_retry = max_retry
        self._connect_timeout = connect_timeout
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.listening = threading.Event()
        """Set while the listening connection is up (for tests and readiness)."""
        self.connects = 0
        """Successful ``LISTEN`` commands so far (the first, and every reconnection)."""
        self.backend_pid: int | None = None
        """The server process of the current listening connection."""

    def announce(self, tracks: Iterable[str]) -> None:
        """Tell this node's listeners, then every other node (a failed ``NOTIFY`` is logged)."""
        changed = frozenset(tracks)
        if not changed:
            return
        self._tell(changed)
        try:
            self._send(changed)
        except Exception:  # noqa: BLE001 - the commit stands; other nodes re-check on their own within a second
            _log.exception("sending NOTIFY for %s failed", sorted(changed))

    def start(self, *, wait: float | None = None) -> None:
        """Start the listening thread; wait up to ``wait`` seconds (default: ``connect_timeout``) for it.

        A server that does not answer by then is not an error: the thread keeps
        trying (logged), and reports every track once it listens.
        """
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="backchannel-pg-listener", daemon=True)
        self._thread.start()
        if not self.listening.wait(self._connect_timeout if wait is None else wait):
            _log.warning("not yet listening for changes on %s; retrying in the background", self._where)

    def stop(self) -> None:
        """End the listening thread and close its connection. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=self._tick + self._connect_timeout + 1)

    def _listen(self) -> psycopg.Connection[tuple[object, ...]]:
        conn = psycopg.connect(
            self._url, autocommit=True, connect_timeout=max(1, round(self._connect_timeout))
        )
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except BaseException:
            conn.close()
            raise
        self.backend_pid = conn.info.backend_pid
        return conn

    def _run(self) -> None:
        delay = self._retry
        failures = 0
        while not self._stopping.is_set():
            try:
                with self._listen() as conn:
                    self.connects += 1
                    if self.connects > 1 or failures:  # notifications were lost while not listening
                        self._tell(frozenset(self._tracks()))
                    self.listening.set()
                    delay, failures = self._retry, 0
                    while not self._stopping.is_set():
                        # one packet's notifications at a time, as soon as they arrive
                        heard = conn.notifies(timeout=self._tick, stop_after=1)
                        named = {n.payload for n in heard if n.channel == self.channel}
                        if named:
                            self._tell(frozenset(named))
            except Exception:  # noqa: BLE001 - the listener outlives a lost connection; logged once per outage
                self.listening.clear()
                failures += 1
                if failures == 1:
                    _log.warning(
                        "listening for changes on %s failed; reconnecting", self._where, exc_info=True
                    )
                self._stopping.wait(delay)
                delay = min(delay * 2, self._max_retry)
        self.listening.clear()
