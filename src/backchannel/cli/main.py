"""The ``backchannel`` command: a thin Typer + Rich adapter over the service layer.

Every command ends through :func:`run`: a :class:`~backchannel.errors.BackchannelError`
is printed as its ``diagnostics()`` and exits with status 1; ``--verbose``
shows the traceback instead. Nothing here prints a private key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

if TYPE_CHECKING:
    from backchannel.service.admission import Admission
    from backchannel.service.node import Node

from backchannel.broker import DeliveryPolicy
from backchannel.broker.messages import Priority
from backchannel.cli import render
from backchannel.errors import BackchannelError, ConfigurationError, EncodingError, NotFoundError
from backchannel.keyfile import KeyPair, read_key_file, write_key_file
from backchannel.log import merkle
from backchannel.log.canonical import JSONValue, loads_strict
from backchannel.log.checkpoint import NoteVerifier
from backchannel.log.verify import KEY_REGISTERED
from backchannel.service.annexes import DEFAULT_MAX_ANNEX_BYTES
from backchannel.service.config import LogNode, Settings, open_log
from backchannel.service.export import export_track, verify_export, verify_store
from backchannel.service.log import Draft

__all__ = ["app", "main"]

app = typer.Typer(
    name="backchannel",
    help="Mediated negotiation with a signed, tamper-evident, verifiable log.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
keys_app = typer.Typer(help="Create and inspect member keys.", no_args_is_help=True)
track_app = typer.Typer(help="Create and list tracks.", no_args_is_help=True)
log_app = typer.Typer(help="Append to, export, verify and prove the log.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(track_app, name="track")
app.add_typer(log_app, name="log")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

_state: dict[str, bool] = {"verbose": False}

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", "-d", help="Data directory (default: $BACKCHANNEL_DATA_DIR or ./.backchannel)."
    ),
]
LogName = Annotated[
    str, typer.Option("--log-name", help="The log's name (checkpoint signer and origin prefix).")
]
T = TypeVar("T")
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run(action: Callable[[], T]) -> T:
    """Run a command body, turning our errors into a diagnostic and exit status 1."""
    try:
        return action()
    except BackchannelError as e:
        if _state["verbose"]:
            raise
        err.print(render.diagnostic(e))
        raise typer.Exit(1) from None


@contextmanager
def _node(
    data_dir: Path | None, log_name: str, *, create: bool = False, check: bool = False
) -> Iterator[LogNode]:
    with open_log(Settings.embedded(data_dir, log_name), create=create, check=check) as node:
        yield node


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show tracebacks on errors.")] = False,
) -> None:
    """Mediated negotiation with a signed, tamper-evident, verifiable log."""
    _state["verbose"] = verbose


# --- keys ----------------------------------------------------------------------------------------
@keys_app.command("new")
def keys_new(
    name: Annotated[str, typer.Argument(help="Holder of the keys, e.g. 'usa/alice'.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="Key file to create (mode 0600).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing key file.")] = False,
) -> None:
    """Generate an Ed25519 signing key and an X25519 key; print only the public halves."""

    def body() -> None:
        keys = KeyPair.generate(name)
        write_key_file(out_file, keys, overwrite=force)
        out.print(render.public_keys(keys, out_file))

    run(body)


@keys_app.command("show")
def keys_show(key_file: Annotated[Path, typer.Argument(help="A key file.")]) -> None:
    """Print the public halves and key ids of a key file."""
    run(lambda: out.print(render.public_keys(read_key_file(key_file), key_file)))


# --- tracks --------------------------------------------------------------------------------------
@track_app.command("new")
def track_new(
    track: Annotated[str, typer.Argument(help="Track id, e.g. 'us-iran-nuclear'.")],
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
) -> None:
    """Create an empty track (the data directory and log key are created if needed)."""

    def body() -> None:
        with _node(data_dir, log_name, create=True) as node:
            info = node.writer.open_track(track)
        out.print(f"created track [bold]{info.track}[/] with origin {info.origin}")
        out.print(f"log key: {info.log_key}", soft_wrap=True, markup=False)

    run(body)


@track_app.command("list")
def track_list(data_dir: DataDir = None, log_name: LogName = "backchannel.local") -> None:
    """List the tracks in the data directory."""

    def body() -> None:
        with _node(data_dir, log_name) as node:
            out.print(render.tracks(node.store.list_tracks()))

    run(body)


# --- log -----------------------------------------------------------------------------------------
def _read_body(text: str) -> Mapping[str, JSONValue]:
    try:
        value = loads_strict(text)
    except EncodingError as e:
        raise EncodingError(f"--body: {e}") from e
    if not isinstance(value, Mapping):
        raise EncodingError("--body: expected a JSON object")
    return value


@log_app.command("register")
def log_register(
    track: Annotated[str, typer.Argument(help="Track id.")],
    key_file: Annotated[Path, typer.Option("--key", "-k", help="The member's key file.")],
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
) -> None:
    """Register a member's public keys in a track (self-signed proof of possession)."""

    def body() -> None:
        keys = read_key_file(key_file)
        draft_body = {
            "member": keys.name,
            "ed25519": keys.signing.verifying_key.to_text(),
            "x25519": keys.agreement.to_text(),
        }
        with _node(data_dir, log_name, check=True) as node:
            result = node.writer.append(track, [Draft(KEY_REGISTERED, keys.name, draft_body, keys.signing)])
        out.print(f"registered {keys.name} ({keys.signing.key_id}) at index {result.entries[0].seq}")

    run(body)


@log_app.command("append")
def log_append(
    track: Annotated[str, typer.Argument(help="Track id.")],
    event_type: Annotated[str, typer.Option("--type", "-t", help="Event type, e.g. 'statement.made'.")],
    key_file: Annotated[Path, typer.Option("--key", "-k", help="The author's key file.")],
    body_json: Annotated[str, typer.Option("--body", "-b", help="The event body, a JSON object.")] = "{}",
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
) -> None:
    """Sign an event with a member key and append it (the author must be registered to verify)."""

    def body() -> None:
        keys = read_key_file(key_file)
        payload = _read_body(body_json)
        with _node(data_dir, log_name, check=True) as node:
            result = node.writer.append(track, [Draft(event_type, keys.name, payload, keys.signing)])
        out.print(f"appended {event_type} at index {result.entries[0].seq}")
        render.print_checkpoint(out, result.checkpoint)

    run(body)


@log_app.command("export")
def log_export(
    track: Annotated[str, typer.Argument(help="Track id.")],
    file: Annotated[Path, typer.Argument(help="Export file to write (JSON Lines).")],
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
) -> None:
    """Export a track's whole log (entries, salts, leaves, checkpoints) to a file."""

    def body() -> None:
        with _node(data_dir, log_name) as node:
            size = node.store.size(track)
            with render.progress(err, "exporting", size) as advance:
                header = export_track(node.store, track, file, progress=advance)
        out.print(f"exported {header.size} entries of [bold]{header.track}[/] to {file}")

    run(body)


def _pinned_key(log_key: str | None, log_key_file: Path | None) -> str | None:
    if log_key_file is not None:
        try:
            return log_key_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigurationError(f"cannot read {log_key_file}: {e.strerror}") from e
    return log_key


@log_app.command("verify")
def log_verify(
    file: Annotated[Path | None, typer.Argument(help="An export file to verify offline.")] = None,
    track: Annotated[
        str | None, typer.Option("--track", help="Verify a track in the data directory instead.")
    ] = None,
    log_key: Annotated[
        str | None, typer.Option("--log-key", help="Pin the log's verifier key (vkey text).")
    ] = None,
    log_key_file: Annotated[
        Path | None, typer.Option("--log-key-file", help="Pin the log key from a file.")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Processes for signature checks (default: CPUs).")
    ] = _CPUS,
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
) -> None:
    """Re-verify every signature, leaf, root and checkpoint; exit 1 naming the first bad index."""

    def body() -> None:
        pinned = _pinned_key(log_key, log_key_file)
        if (file is None) == (track is None):
            raise ConfigurationError(
                "give exactly one of FILE (an export) or --track (a track in --data-dir)"
            )
        if file is not None:
            with render.progress(err, "verifying", None) as advance:
                verified = verify_export(file, pinned, progress=advance, jobs=jobs)
        else:
            assert track is not None
            with (
                _node(data_dir, log_name) as node,
                render.progress(err, "verifying", node.store.size(track)) as advance,
            ):
                verified = verify_store(node.store, track, pinned, progress=advance, jobs=jobs)
        render.print_verification(out, verified)

    run(body)


@log_app.command("proof")
def log_proof(
    track: Annotated[str, typer.Argument(help="Track id.")],
    index: Annotated[int, typer.Argument(help="0-based log index of the entry.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    data_dir: DataDir = None,
    log_name: LogName = "backchannel.local",
) -> None:
    """Print the inclusion proof of an entry against the latest signed checkpoint (verified first)."""

    def body() -> None:
        with _node(data_dir, log_name) as node:
            info = node.store.get_track(track)
            note = node.store.latest_checkpoint(track)
            if note is None:
                raise NotFoundError(f"track {track!r} is empty: there is nothing to prove")
            checkpoint = NoteVerifier.from_vkey(info.log_key).verify(note)
            if not 0 <= index < checkpoint.size:
                raise NotFoundError(f"index {index} is not in the log (size {checkpoint.size})")
            leaf = node.store.get_nodes(track, [(0, index)])[0]
            proof = node.store.inclusion_proof(track, index, checkpoint.size)
        merkle.verify_inclusion(leaf, index, checkpoint.size, proof, checkpoint.root)
        if as_json:
            doc = {
                "track": track,
                "index": index,
                "tree_size": checkpoint.size,
                "leaf_hash": leaf.hex(),
                "proof": [p.hex() for p in proof],
                "checkpoint": note.to_text(),
                "log_key": info.log_key,
            }
            sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        else:
            out.print(render.proof(track, index, leaf, proof, note))
            render.print_checkpoint(out, note)

    run(body)


# --- serve ---------------------------------------------------------------------------------------
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


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


@app.command("serve")
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
) -> None:
    """Run the HTTP service on the data directory (keys and database are created if needed)."""
    from backchannel.api.guard import serve as serve_config  # the server is only loaded when asked for
    from backchannel.api.guard import uvicorn_config
    from backchannel.service.admission import Admission
    from backchannel.service.node import open_node

    def body() -> None:
        if host not in _LOOPBACK and not host.startswith("127.") and not allow_remote:
            raise ConfigurationError(
                f"refusing to listen on {host}: it is not a loopback address (pass --allow-remote)"
            )
        policy = _policy(flash_deadline, heartbeat_window, credit)
        admission = Admission.from_specs(admit_key or [])
        with open_node(
            Settings.embedded(data_dir, log_name, annex_max_bytes=annex_max_bytes),
            host=host,
            port=port,
            public_origin=public_origin,
            policy=policy,
            admission=admission,
            verify_full=verify_full,
        ) as node:
            out.print(f"service key: {node.service_key_id}", soft_wrap=True, markup=False)
            out.print(f"log key: {node.log_key}", soft_wrap=True, markup=False)
            _print_serving_state(node, admission)

            def listening(bound_host: str, bound_port: int) -> None:
                out.print(
                    f"listening on {bound_host}:{bound_port} (public origin {node.public_origin})",
                    markup=False,
                )
                out.file.flush()

            config = uvicorn_config(node.app, host=host, port=port, log_level="warning", lifespan="on")
            serve_config(config, listening)

    run(body)


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


# --- demo ----------------------------------------------------------------------------------------
demo_app = typer.Typer(help="Demonstrations.", invoke_without_command=True)
app.add_typer(demo_app, name="demo")


@demo_app.callback()
def demo(
    ctx: typer.Context,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", "-d", help="Where to put the demo data (emptied first).")
    ] = Path(".demo"),
    serve_after: Annotated[
        bool, typer.Option("--serve", help="Keep the server running after the script, until Ctrl-C.")
    ] = False,
    flash_deadline: Annotated[
        float, typer.Option("--flash-deadline", min=0.5, help="The demo server's flash deadline (s).")
    ] = 3.0,
) -> None:
    """The live Doha talks: a real server on 127.0.0.1, driven through the HTTP API with real keys."""
    if ctx.invoked_subcommand is not None:
        return
    from backchannel.cli.live import run_live_demo  # the demo is only loaded when asked for

    run(lambda: run_live_demo(out, data_dir, serve=serve_after, flash_deadline=flash_deadline))


@demo_app.command("log")
def demo_log(
    data_dir: Annotated[Path, typer.Option("--data-dir", "-d", help="Where to put the demo data.")] = Path(
        ".demo"
    ),
    fresh: Annotated[bool, typer.Option("--fresh/--keep", help="Start from an empty data directory.")] = True,
) -> None:
    """The foundation demo: append signed events, export, verify and print the checkpoint."""
    from backchannel.cli.demo import run_demo  # the demo is only loaded when asked for

    run(lambda: run_demo(out, data_dir, fresh=fresh))


def main() -> None:
    """Console-script entry point."""
    app()


import backchannel.cli.escrow  # noqa: E402, F401 - attestations and escrow (ADR-0017)

# registers the commands that drive a server: deals (`deal`, `commit`), `witness run | vkey`,
# `checkpoint show` and `text ...` (issue #4)
from backchannel.cli import _commands, deals, texts, witness  # noqa: E402, F401
from backchannel.cli import obligations as _obligations  # noqa: E402, F401 - registers `obligation`
from backchannel.cli.feeds import feed_app  # noqa: E402 - `feed`: event feeds (issue #10)

app.add_typer(feed_app, name="feed")
from backchannel.cli.forecast import forecast_app as _forecast_app  # noqa: E402 - `forecast` (issue #10)

app.add_typer(_forecast_app, name="forecast")
from backchannel.cli.language import language_app  # noqa: E402 - the language aid (issue #15)

app.add_typer(language_app, name="language")
from backchannel.cli.negotiate import negotiate_app  # noqa: E402 - `negotiate run | analyse` (issue #9)

app.add_typer(negotiate_app, name="negotiate")
from backchannel.cli.tournament import tournament_app  # noqa: E402 - negotiation tournaments (ADR-0033)

app.add_typer(tournament_app, name="tournament")
