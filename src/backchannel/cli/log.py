"""``backchannel log``: register, append, export, verify and prove a local log.

Works on a data directory (``--data-dir``), not a running service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backchannel.cli import render
from backchannel.cli._common import (
    CPUS,
    DataDir,
    LogName,
    err,
    local_log,
    out,
    print_json,
    read_body,
    run,
)
from backchannel.errors import ConfigurationError, NotFoundError
from backchannel.log import merkle
from backchannel.log.checkpoint import NoteVerifier
from backchannel.log.verify import KEY_REGISTERED
from backchannel.protocol.keyfile import read_key_file
from backchannel.service.export import export_entries, export_track, verify_export, verify_store
from backchannel.service.log import Draft
from backchannel.service.tracks import replay, replay_entries

__all__ = ["log_app"]

log_app = typer.Typer(help="Append to, export, verify and prove the log.", no_args_is_help=True)


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
        with local_log(data_dir, log_name, check=True) as node:
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
        payload = read_body(body_json)
        with local_log(data_dir, log_name, check=True) as node:
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
        with local_log(data_dir, log_name) as node:
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
    ] = CPUS,
    commands: Annotated[
        bool,
        typer.Option(
            "--commands",
            help="Also re-verify every embedded command's own signature (single or batch-signed, "
            "ADR-0051) under the key valid then, and re-decide it (a track of the track service).",
        ),
    ] = False,
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
            if commands:
                replay_entries(verified.report.track, export_entries(file))
        else:
            assert track is not None
            with (
                local_log(data_dir, log_name) as node,
                render.progress(err, "verifying", node.store.size(track)) as advance,
            ):
                verified = verify_store(node.store, track, pinned, progress=advance, jobs=jobs)
                if commands:
                    replay(node.store, track)
        render.print_verification(out, verified)
        if commands:
            out.print("OK: every embedded command's signature verifies and re-decides to its logged events")

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
        with local_log(data_dir, log_name) as node:
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
            print_json(doc)
        else:
            out.print(render.proof(track, index, leaf, proof, note))
            render.print_checkpoint(out, note)

    run(body)
