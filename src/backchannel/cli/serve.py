"""``backchannel serve``: run the HTTP service on a data directory.

``serve_app`` has no name: ``main`` mounts ``serve`` at the top level. The
node is assembled by :func:`backchannel.node.open_node`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from backchannel.node import Node
    from backchannel.service.admission import Admission

from backchannel.broker import DeliveryPolicy, Priority
from backchannel.cli._common import (
    DataDir,
    LogName,
    out,
    run,
)
from backchannel.errors import ConfigurationError
from backchannel.service.annexes import DEFAULT_MAX_ANNEX_BYTES
from backchannel.service.config import Settings

__all__ = ["serve_app"]

serve_app = typer.Typer()
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class LogFormat(StrEnum):
    """How ``serve`` logs."""

    TEXT = "text"
    JSON = "json"


class Loop(StrEnum):
    """The event loop ``serve`` runs (issue #13, ADR-0049): uvloop when installed, unless asked otherwise."""

    AUTO = "auto"
    ASYNCIO = "asyncio"
    UVLOOP = "uvloop"


def _policy(
    flash_deadline: float | None, heartbeat_window: float | None, credit: int | None = None
) -> DeliveryPolicy:
    """The delivery policy: the defaults, with the flash deadline, heartbeat window and credit overridden."""
    defaults = DeliveryPolicy()
    deadlines = dict(defaults.ack_deadline)
    if flash_deadline is not None:
        deadlines[Priority.FLASH] = timedelta(seconds=flash_deadline)
    window = defaults.heartbeat_window if heartbeat_window is None else timedelta(seconds=heartbeat_window)
    return dataclasses.replace(
        defaults,
        ack_deadline=deadlines,
        heartbeat_window=window,
        credit=defaults.credit if credit is None else credit,
    )


@serve_app.command("serve")
def serve(
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
    public_origin: Annotated[
        str | None,
        typer.Option("--public-origin", help="The origin clients sign for (default: http://HOST:PORT)."),
    ] = None,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow listening on a non-loopback address.")
    ] = False,
    flash_deadline: Annotated[
        float | None,
        typer.Option("--flash-deadline", min=0.001, help="Seconds to settle a flash message (default 60)."),
    ] = None,
    heartbeat_window: Annotated[
        float | None,
        typer.Option("--heartbeat-window", min=0.001, help="Seconds a party stays online (default 90)."),
    ] = None,
    credit: Annotated[
        int | None,
        typer.Option("--credit", min=1, max=1000, help="Most unsettled deliveries per consumer (64)."),
    ] = None,
    annex_max_bytes: Annotated[
        int,
        typer.Option("--annex-max-bytes", min=1, help="The largest annex blob accepted (default 1 MiB)."),
    ] = DEFAULT_MAX_ANNEX_BYTES,
    admit_key: Annotated[
        list[str] | None,
        typer.Option(
            "--admit-key",
            help="A key that may open tracks: a key file (public or private) or an ed25519 key id. "
            "Repeatable; without one, nobody may open a track (ADR-0023).",
        ),
    ] = None,
    verify_full: Annotated[
        bool,
        typer.Option("--verify-full", help="Verify every entry of every track before serving (slow)."),
    ] = False,
    metrics_token: Annotated[
        str | None,
        typer.Option(
            "--metrics-token",
            envvar="BACKCHANNEL_METRICS_TOKEN",
            help="A bearer token /metrics requires; without one, only loopback clients may scrape it.",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format", help="text, or json: one JSON object per line on stderr (with access logs)."
        ),
    ] = LogFormat.TEXT,
    loop: Annotated[
        Loop,
        typer.Option("--loop", help="The event loop: auto (uvloop when installed), asyncio or uvloop."),
    ] = Loop.AUTO,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            envvar="BACKCHANNEL_STORE",
            help="A postgresql://user@host:port/database URL to keep the tracks in "
            "(default: SQLite in the data directory; keys stay in the data directory).",
        ),
    ] = None,
    master_key_file: Annotated[
        Path | None,
        typer.Option(
            "--master-key-file",
            help="Encrypt payloads at rest with this master key file (also BACKCHANNEL_MASTER_KEY_FILE, "
            "or the key itself in BACKCHANNEL_MASTER_KEY; ADR-0057).",
        ),
    ] = None,
) -> None:
    """Run the HTTP service on the data directory (keys and database are created if needed)."""
    from backchannel.node import open_node, serve_config, uvicorn_config  # loaded only when asked for
    from backchannel.service.admission import Admission
    from backchannel.service.gc_policy import tune_gc

    def body() -> None:
        if host not in _LOOPBACK and not host.startswith("127.") and not allow_remote:
            raise ConfigurationError(
                f"refusing to listen on {host}: it is not a loopback address (pass --allow-remote)"
            )
        _check_loop(loop)
        policy = _policy(flash_deadline, heartbeat_window, credit)
        admission = Admission.from_specs(admit_key or [])
        tune_gc()  # this process is the server: its heap grows with the logs held in memory (issue #13)
        with open_node(
            Settings.embedded(
                data_dir,
                log_name,
                annex_max_bytes=annex_max_bytes,
                store_url=store,
                master_key_file=master_key_file,
            ),
            host=host,
            port=port,
            public_origin=public_origin,
            policy=policy,
            admission=admission,
            verify_full=verify_full,
            metrics_token=metrics_token,
        ) as node:
            out.print(f"service key: {node.service_key_id}", soft_wrap=True, markup=False)
            out.print(f"log key: {node.log_key}", soft_wrap=True, markup=False)
            _print_encryption(node)
            _print_serving_state(node, admission)

            def listening(bound_host: str, bound_port: int) -> None:
                out.print(
                    f"listening on {bound_host}:{bound_port} (public origin {node.public_origin})",
                    markup=False,
                )
                out.file.flush()

            config = uvicorn_config(
                node.app, host=host, port=port, lifespan="on", loop=loop.value, **_log_options(log_format)
            )
            serve_config(config, listening)

    run(body)


def _check_loop(loop: Loop) -> None:
    """Refuse ``--loop uvloop`` when uvloop is not installed (before anything is opened)."""
    if loop is Loop.UVLOOP and importlib.util.find_spec("uvloop") is None:
        raise ConfigurationError(
            "--loop uvloop: uvloop is not installed (pip install uvloop, or use --loop auto or asyncio)"
        )


def _log_options(log_format: LogFormat) -> dict[str, Any]:
    """The server's logging options: its own text config, or JSON lines through the root logger."""
    if log_format is LogFormat.TEXT:
        return {"log_level": "warning"}
    from backchannel.service.logs import configure_json_logs  # loaded only when asked for

    configure_json_logs()
    return {"log_config": None, "log_level": "info", "access_log": True}


def _print_encryption(node: Node) -> None:
    """Say whether payloads are encrypted at rest, and with which master key (its id, never the key)."""
    cipher = getattr(node.log.store, "cipher", None)
    master = None if cipher is None else cipher.master
    state = "off" if master is None else f"on (master key {master.key_id} from {master.source})"
    out.print(f"encryption at rest: {state}", soft_wrap=True, markup=False)


def _print_serving_state(node: Node, admission: Admission) -> None:
    """Say which tracks are set aside as damaged and who may open tracks (issue #8)."""
    report = node.integrity
    for track, (index, reason) in sorted(report.damaged.items()):
        where = "" if index is None else f" at index {index}"
        out.print(f"NOT SERVED: track {track}{where}: {reason}", markup=False, style="bold red")
    checked = "fully verified" if report.full else "checked"
    out.print(
        f"tracks {checked}: {len(report.healthy)} served, {len(report.damaged)} set aside", markup=False
    )
    admitted = ", ".join(sorted(admission.key_ids)) or "none (pass --admit-key)"
    out.print(f"keys that may open tracks: {admitted}", soft_wrap=True, markup=False)
    out.file.flush()
