"""One running service node: store, log writer, node key, services and the HTTP app.

:func:`open_node` assembles what ``backchannel serve`` runs, from a data directory::

    <data_dir>/backchannel.sqlite3     the SQLite store (service/config.py)
    <data_dir>/log.key                 the log's checkpoint signing key (0600)
    <data_dir>/node.key                the service node's key (0600): it signs every log
                                       event and is the key ``open_track`` names

The node key is generated on first use and read back afterwards, so tracks
opened before a restart keep working. This module does not run a server (the
CLI hands :attr:`Node.app` to uvicorn).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Self

from fastapi import FastAPI

from backchannel.api import create_app
from backchannel.broker import DeliveryPolicy
from backchannel.clock import Clock, SystemClock
from backchannel.protocol.keyfile import KeyPair, read_key_file, write_key_file
from backchannel.service.annexes import AnnexService
from backchannel.service.config import LogNode, Settings, open_log
from backchannel.service.delivery import DeliveryService
from backchannel.service.tracks import TrackService

__all__ = ["NODE_KEY_NAME", "Node", "default_origin", "open_node"]

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
    ) -> None:
        """Bundle the node's parts (use :func:`open_node`)."""
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
        """Close the store."""
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
    if path.exists():
        return read_key_file(path)
    keys = KeyPair.generate(NODE_KEY_NAME)
    write_key_file(path, keys)
    return keys


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
) -> Node:
    """Open the data directory and build the services and the app.

    Args:
        settings: Where the data lives (created, with its keys, if missing).
        host: The address the server listens on.
        port: The port it listens on.
        public_origin: The origin clients sign requests for (default: ``http://host:port``).
        policy: The delivery policy (default: :class:`DeliveryPolicy`'s defaults).
        clock: The clock (default: the system clock).

    Returns:
        The open node; close it after use.

    Raises:
        ConfigurationError: a key file is bad or cannot be written.
        StorageError: the database cannot be opened.
    """
    chosen_clock = clock or SystemClock()
    log = open_log(settings, clock=chosen_clock)
    try:
        keys = _node_keys(node_key_file(settings))
        tracks = TrackService(log.writer, keys, clock=chosen_clock)
        delivery = DeliveryService(tracks, keys, policy or DeliveryPolicy(), clock=chosen_clock)
        origin = public_origin or default_origin(host, port)
        annexes = AnnexService(tracks, max_bytes=settings.annex_max_bytes)
        app = create_app(tracks, public_origin=origin, clock=chosen_clock, delivery=delivery, annexes=annexes)
    except BaseException:
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
    )
