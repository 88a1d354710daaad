"""How a node learns that a track changed, whichever node changed it (ADR-0060).

A :class:`Notifier` calls its listeners with the tracks that changed. The HTTP
app listens: it wakes the waiting event streams and long polls
(:class:`~backchannel.api.context.Changes`) and marks the tracks for the
periodic work (:meth:`~backchannel.service.schedule.PeriodicWork.touch`).

- :class:`LocalNotifier`: one node. What this node commits, it announces
  (:meth:`Notifier.announce`); nothing else can change the tracks.
- :class:`PollingNotifier`: nodes sharing a SQLite file. A thread asks a cheap
  probe every ``interval`` seconds (50 ms by default): SQLite's ``PRAGMA
  data_version``, which moves only when another connection committed. Only
  then does it compare the tracks' versions
  (:meth:`~backchannel.store.delivery_state.DeliveryState.versions`: each
  track's log size plus its lease claims) and report the tracks that moved.
  SQLite has no cross-process notification; a pragma 20 times a second is the
  cheap substitute, and a node alone pays only that.
- :class:`~backchannel.service.pg_notifier.PostgresNotifier`: nodes sharing a
  PostgreSQL schema. ``announce`` sends a ``NOTIFY`` after the commit; a
  listening connection calls the listeners.

This module does not decide what a change means and never blocks a commit:
a listener that fails is logged and the others still run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Protocol

from backchannel.errors import ConfigurationError

__all__ = ["DEFAULT_POLL_SECONDS", "Listener", "LocalNotifier", "Notifier", "PollingNotifier"]

_log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 0.05
"""How often :class:`PollingNotifier` compares the tracks' versions."""

Listener = Callable[[frozenset[str]], None]
"""Called with the tracks that changed."""


class Notifier(Protocol):
    """Tells listeners which tracks changed (see the module docstring)."""

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with the tracks that change from now on."""
        ...

    def announce(self, tracks: Iterable[str]) -> None:
        """This node changed ``tracks`` (committed to their logs or leases)."""
        ...

    def start(self) -> None:
        """Start watching (a no-op for a notifier that needs no thread)."""
        ...

    def stop(self) -> None:
        """Stop watching. Idempotent."""
        ...


class LocalNotifier:
    """Announcements of this process only (one node)."""

    def __init__(self) -> None:
        """No listener yet."""
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` with the tracks that change from now on."""
        with self._lock:
            self._listeners.append(listener)

    def announce(self, tracks: Iterable[str]) -> None:
        """Call every listener with ``tracks`` (nothing if empty)."""
        changed = frozenset(tracks)
        if changed:
            self._tell(changed)

    def _tell(self, changed: frozenset[str]) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(changed)
            except Exception:  # noqa: BLE001 - one listener's failure must not stop the others
                _log.exception("a change listener failed on %s", sorted(changed))

    def start(self) -> None:
        """Nothing to start."""

    def stop(self) -> None:
        """Nothing to stop."""


class PollingNotifier(LocalNotifier):
    """Announcements of this process, and every change another process made, found by polling.

    Args:
        versions: Reads each track's version (a number that only grows).
        interval: Seconds between two reads.
        probe: A cheaper read that changes whenever a version may have
            (``None``: read the versions every time).

    Raises:
        ConfigurationError: an interval that is not positive.
    """

    def __init__(
        self,
        versions: Callable[[], dict[str, int]],
        *,
        interval: float = DEFAULT_POLL_SECONDS,
        probe: Callable[[], object] | None = None,
    ) -> None:
        """Not started yet (:meth:`start`)."""
        super().__init__()
        if interval <= 0:
            raise ConfigurationError(f"poll interval must be positive, got {interval}")
        self._versions = versions
        self._interval = interval
        self._probe = probe
        self._probed: object = None
        self._seen: dict[str, int] | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.polls = 0
        """Reads made so far (for tests and ``statistics``)."""

    def poll(self) -> frozenset[str]:
        """Read the versions once; tell the listeners of the tracks that moved since the last read.

        The first read only learns the versions; a probe that did not move skips
        the read. Returns the tracks that moved.
        """
        if self._probe is not None:
            probed = self._probe()
            if self._seen is not None and probed == self._probed:
                return frozenset()
            self._probed = probed
        now = self._versions()
        self.polls += 1
        before, self._seen = self._seen, now
        if before is None:
            return frozenset()
        changed = frozenset(t for t, v in now.items() if before.get(t) != v)
        if changed:
            self._tell(changed)
        return changed

    def start(self) -> None:
        """Start the polling thread (daemon; :meth:`stop` ends it)."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="backchannel-change-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the polling thread and wait for it. Idempotent."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stopping.set()
            thread.join(timeout=5)

    def _run(self) -> None:
        failures = 0
        while not self._stopping.wait(self._interval if self._seen is not None else 0):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the poller outlives a failed read; logged once
                failures += 1
                if failures == 1:
                    _log.exception("reading the track versions failed; retrying (logged once)")
            else:
                failures = 0
