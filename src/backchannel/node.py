"""One running service node: store, log writer, node key, services and the HTTP app.

:func:`open_node` assembles what ``backchannel serve`` runs, from a data directory::

    <data_dir>/backchannel.sqlite3     the SQLite store (service/config.py)
    <data_dir>/log.key                 the log's checkpoint signing key (0600)
    <data_dir>/node.key                the service node's key (0600): it signs every log
                                       event and is the key ``open_track`` names

The node key is generated on first use and read back afterwards, so tracks
opened before a restart keep working. Before anything is served, the store is
checked (:mod:`backchannel.service.integrity`): a damaged file stops the node,
a damaged track is set aside. Only the admitted keys may open tracks
(:mod:`backchannel.service.admission`), and requests signed before the node
started are refused (:mod:`backchannel.service.replay`, ADR-0024).

Several nodes may serve one data directory at once (ADR-0059): each opens the
shared delivery state in the same SQLite file
(:class:`~backchannel.store.sqlite_delivery_state.SQLiteDeliveryState`: leases,
heartbeats, replay nonces, work leases), takes a track's periodic work only
under its work lease, and polls the tracks' versions to wake its streams when
another node commits (:class:`~backchannel.service.notifier.PollingNotifier`, ADR-0060).
Nodes of one PostgreSQL store (``--store postgresql://...``) share the same
state in its schema (:class:`~backchannel.store.postgres_delivery_state.PostgresDeliveryState`)
and wake each other with ``LISTEN``/``NOTIFY``
(:class:`~backchannel.service.pg_notifier.PostgresNotifier`).
This module does not run a server (the CLI hands :attr:`Node.app` to uvicorn).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Self

from fastapi import FastAPI

from backchannel.api import create_app
from backchannel.api.guard import serve as serve_config
from backchannel.api.guard import uvicorn_config
from backchannel.broker import DeliveryPolicy
from backchannel.clock import Clock, SystemClock
from backchannel.protocol.httpsig import DEFAULT_MAX_SKEW
from backchannel.protocol.keyfile import KeyPair, read_or_create_key_file
from backchannel.service.admission import Admission
from backchannel.service.annexes import AnnexService
from backchannel.service.config import LogNode, Settings, open_log
from backchannel.service.delivery import DeliveryService
from backchannel.service.integrity import IntegrityReport, check_store
from backchannel.service.language import LanguageService
from backchannel.service.notifier import DEFAULT_POLL_SECONDS, LocalNotifier, Notifier, PollingNotifier
from backchannel.service.replay import ReplayJournal, ReplayWindow
from backchannel.service.tracks import TrackService
from backchannel.service.work import DEFAULT_WORK_TTL, WorkLeases, node_id
from backchannel.store.base import EventStore
from backchannel.store.delivery_state import DeliveryState, MemoryDeliveryState
from backchannel.store.sqlite import SQLiteEventStore
from backchannel.store.sqlite_delivery_state import SQLiteDeliveryState

__all__ = [
    "NODE_KEY_NAME",
    "Node",
    "app_factory",
    "default_origin",
    "open_node",
    "serve_config",
    "uvicorn_config",
]

NODE_KEY_NAME = "backchannel/service"
"""The name written in a generated node key file."""


class Node:
    """An open service node. Close it (or use it as a context manager) to close the store.

    Attributes:
        settings: Where the data lives.
        log: The open store and log writer.
        keys: The service node's keys.
        tracks: The track service.
        delivery: The delivery service.
        app: The HTTP application.
        public_origin: The origin RFC 9421 target URIs are checked against.
        integrity: What the start-up integrity check found.
        shared: The delivery state shared with the other nodes of the database.
        work: This node's work leases (which tracks' periodic work it runs).
    """

    def __init__(  # noqa: PLR0913 - the node's parts, keyword-only
        self,
        *,
        settings: Settings,
        log: LogNode,
        keys: KeyPair,
        tracks: TrackService,
        delivery: DeliveryService,
        app: FastAPI,
        public_origin: str,
        integrity: IntegrityReport | None = None,
        shared: DeliveryState | None = None,
    ) -> None:
        """Bundle the node's parts (use :func:`open_node`)."""
        self.integrity = integrity or IntegrityReport(tracks=())
        self.shared = shared or delivery.shared
        self.work = delivery.work
        self.settings = settings
        self.log = log
        self.keys = keys
        self.tracks = tracks
        self.delivery = delivery
        self.app = app
        self.public_origin = public_origin

    @property
    def service_key_id(self) -> str:
        """The node key's id (what ``open_track`` must name)."""
        return self.keys.signing.key_id

    @property
    def log_key(self) -> str:
        """The log's checkpoint verifier key (vkey text) that clients pin."""
        return self.tracks.log_key

    def close(self) -> None:
        """Close the shared delivery state and the store."""
        try:
            self.shared.close()
        finally:
            self.log.close()

    def __enter__(self) -> Self:
        """Use as a context manager."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Close on exit."""
        self.close()


def node_key_file(settings: Settings) -> Path:
    """Where the node key lives."""
    return settings.data_dir / "node.key"


def _node_keys(path: Path) -> KeyPair:
    """The node key at ``path``, created if missing (two nodes starting together end up with one key)."""
    return read_or_create_key_file(path, lambda: KeyPair.generate(NODE_KEY_NAME))


def app_factory() -> Callable[..., FastAPI]:
    """The HTTP app builder (:func:`backchannel.api.create_app`), for in-process runs of the real app.

    ``backchannel rehearse`` hands it to the simulator (:mod:`backchannel.sim`),
    which may not import the API itself.
    """
    return create_app


def default_origin(host: str, port: int) -> str:
    """``http://host:port``, with an IPv6 literal in brackets."""
    authority = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"http://{authority}:{port}"


def open_node(  # noqa: PLR0913 - where, how it is reached, and the test seams, keyword-only
    settings: Settings,
    *,
    host: str,
    port: int,
    public_origin: str | None = None,
    policy: DeliveryPolicy | None = None,
    clock: Clock | None = None,
    admission: Admission | None = None,
    verify_full: bool = False,
    replay: ReplayWindow | None = None,
    language: LanguageService | None = None,
    metrics_token: str | None = None,
    work_ttl: timedelta = DEFAULT_WORK_TTL,
    poll_interval: float = DEFAULT_POLL_SECONDS,
) -> Node:
    """Open the data directory and build the services and the app.

    Args:
        settings: Where the data lives (created, with its keys, if missing).
        host: The address the server listens on.
        port: The port it listens on.
        public_origin: The origin clients sign requests for (default: ``http://host:port``).
        policy: The delivery policy (default: :class:`DeliveryPolicy`'s defaults).
        clock: The clock (default: the system clock).
        admission: Which keys may open tracks (default: none; ADR-0023).
        verify_full: Check every signature, node and checkpoint of every track at
            start-up, and SQLite's full ``integrity_check`` (default: the quick checks).
        replay: The replay window (default: the default budgets, refusing requests
            created before this node started; it waits for the next whole second).
        language: The language aid's service (default: one that loads the aid on first use).
        metrics_token: The bearer token ``/metrics`` requires (default: loopback clients only; ADR-0029).
        work_ttl: How long a track's work lease lasts unless renewed: how soon
            another node takes over the periodic work of one that died (ADR-0059).
        poll_interval: How often the node looks for changes other nodes made (seconds; SQLite only:
            PostgreSQL nodes are woken by ``NOTIFY``).

    Returns:
        The open node; close it after use.

    Raises:
        ConfigurationError: a key file is bad or cannot be written.
        StorageError: the database cannot be opened.
        DamagedStoreError: the database fails SQLite's own check.
    """
    chosen_clock = clock or SystemClock()
    log = open_log(settings, clock=chosen_clock)
    shared: DeliveryState | None = None
    try:
        integrity = check_store(log.store, full=verify_full)
        keys = _node_keys(node_key_file(settings))
        tracks = TrackService(log.writer, keys, clock=chosen_clock, admission=admission or Admission())
        tracks.set_aside(integrity)
        shared, notifier = _shared_state(log.store, poll_interval, settings.store_url)
        work = WorkLeases(shared, node_id(), work_ttl)
        chosen_policy = policy or DeliveryPolicy()
        delivery = DeliveryService(tracks, keys, chosen_policy, clock=chosen_clock, shared=shared, work=work)
        origin = public_origin or default_origin(host, port)
        annexes = AnnexService(tracks, max_bytes=settings.annex_max_bytes)
        replay = replay or ReplayWindow(
            DEFAULT_MAX_SKEW,
            not_before=_start_second(chosen_clock),
            journal=_journal(log.store),
            ledger=shared,
        )
        app = create_app(
            tracks,
            public_origin=origin,
            clock=chosen_clock,
            delivery=delivery,
            annexes=annexes,
            replay=replay,
            language=language,
            metrics_token=metrics_token,
            notifier=notifier,
        )
    except BaseException:
        if shared is not None:
            shared.close()
        log.close()
        raise
    return Node(
        settings=settings,
        log=log,
        keys=keys,
        tracks=tracks,
        delivery=delivery,
        app=app,
        public_origin=origin,
        integrity=integrity,
        shared=shared,
    )


def _journal(store: EventStore) -> ReplayJournal | None:
    """The store keeps replay marks when it has a table for them (SQLite, PostgreSQL)."""
    if isinstance(store, SQLiteEventStore):
        return store
    from backchannel.store.postgres import PostgresEventStore  # loads psycopg

    return store if isinstance(store, PostgresEventStore) else None


def _shared_state(
    store: object, poll_interval: float, url: str | None = None
) -> tuple[DeliveryState, Notifier]:
    """The delivery state shared with other nodes of ``store``'s database, and how changes are learnt.

    SQLite: its file, and a poller (ADR-0060). PostgreSQL (``url`` is the
    store's): its schema, and ``LISTEN``/``NOTIFY``. Any other store: this
    process's memory (no other process opens it).
    """
    if isinstance(store, SQLiteEventStore) and store.path != ":memory:":
        state = SQLiteDeliveryState(store.path)
        return state, PollingNotifier(state.versions, interval=poll_interval, probe=state.data_version)
    if url is not None:
        from backchannel.service.pg_notifier import PostgresNotifier  # loads psycopg
        from backchannel.store.postgres import PostgresEventStore
        from backchannel.store.postgres_delivery_state import PostgresDeliveryState

        if isinstance(store, PostgresEventStore):
            shared = PostgresDeliveryState(url)
            notifier = PostgresNotifier(url, shared.channel, send=shared.notify, tracks=shared.versions)
            return shared, notifier
    return MemoryDeliveryState(), LocalNotifier()  # a store no other process opens


def _start_second(clock: Clock) -> datetime:
    """The first whole second at or after now; returns once the clock has reached it.

    RFC 9421 ``created`` is whole seconds: every request signed before this
    instant (before the node started) has an earlier ``created``, and every
    request signed after it has a ``created`` at or after it.
    """
    now = clock.now()
    start = datetime.fromtimestamp(math.ceil(now.timestamp()), tz=UTC)
    time.sleep(max(0.0, (start - now).total_seconds()))  # at most one second, once per start
    return start
