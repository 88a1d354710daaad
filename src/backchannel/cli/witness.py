"""``backchannel witness run | vkey`` and ``backchannel checkpoint show`` (ADR-0019).

- ``witness run --track T --server URL --key FILE --state DIR [--once | --interval S]``:
  the witness program (:class:`backchannel.sdk.witness.Witness`) cosigning each new
  checkpoint of each ``--track``; a split view prints both signed notes and
  where they were saved, and exits 1.
- ``witness vkey --key FILE``: the cosigner vkey clients pin (``--witness``).
- ``checkpoint show --track T [--witness VKEY ...] [--quorum K] [--cosigned K]``:
  the signed note with its cosignature lines, and which are valid for the
  given witness keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from backchannel.cli import render
from backchannel.cli._common import DEFAULT_SERVER, Json, KeyFile, Server, connect, err, out, print_json, run
from backchannel.errors import BackchannelError
from backchannel.log.checkpoint import NoteVerifier, SignedCheckpoint
from backchannel.log.cosignature import CosignatureSigner, CosignatureVerifier, WitnessPolicy
from backchannel.protocol.keyfile import read_key_file
from backchannel.sdk.witness import SplitViewError, Witness, WitnessResult

__all__ = ["checkpoint_app", "witness_app"]

witness_app = typer.Typer(
    help="Witness a track: cosign its checkpoints once proven consistent.", no_args_is_help=True
)
checkpoint_app = typer.Typer(
    help="Show a track's checkpoint and its witness cosignatures.", no_args_is_help=True
)

Tracks = Annotated[
    list[str],
    typer.Option("--track", "-t", envvar="BACKCHANNEL_TRACK", help="A track to witness (repeatable)."),
]
LogKey = Annotated[
    str | None,
    typer.Option(
        "--log-key", help="Pin the log's vkey (default: as recorded in the state, else the service's)."
    ),
]


def _report(outcome: WitnessResult | BackchannelError | Exception) -> bool:
    """Print one outcome; return True if it is a result (False for a split view or an error)."""
    if isinstance(outcome, WitnessResult):
        before = "first" if outcome.previous_size is None else f"previous {outcome.previous_size}"
        stored = "stored" if outcome.stored else "already held by the service"
        text = {
            "cosigned": f"cosigned checkpoint {outcome.size} ({before}); {stored}",
            "unchanged": f"checkpoint {outcome.size} unchanged; cosignature resubmitted ({stored})",
            "stale": (
                f"shown an older checkpoint {outcome.size} "
                f"(a prefix of {outcome.previous_size}, as proven); not cosigned"
            ),
        }[outcome.status]
        out.print(f"{outcome.track}: {text}", markup=False, soft_wrap=True)
        return True
    if isinstance(outcome, SplitViewError):
        err.print(Text(f"SPLIT VIEW on {outcome.track}: refusing to cosign", style="bold red"))
        err.print(str(outcome), markup=False, soft_wrap=True)
        return False
    if isinstance(outcome, BackchannelError):
        err.print(render.diagnostic(outcome))
    else:
        err.print(f"unreachable: {outcome}", markup=False, soft_wrap=True)
    return False


@witness_app.command("run")
def witness_run(
    track: Tracks,
    key_file: KeyFile,
    state: Annotated[Path, typer.Option("--state", help="The witness's state directory.")],
    once: Annotated[bool, typer.Option("--once", help="Witness each track once and exit.")] = False,
    interval: Annotated[
        float, typer.Option("--interval", min=0.01, help="Seconds between rounds (without --once).")
    ] = 5.0,
    log_key: LogKey = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Cosign each new checkpoint after proving it consistent with the last one cosigned.

    Exits 1 if a round met a split view or an error (with --once, or on Ctrl-C).
    """

    def body() -> None:
        with connect(server, key_file) as client:
            witness = Witness(client, state, log_key=log_key)
            out.print(f"witness {client.member}: {witness.vkey}", markup=False, soft_wrap=True)
            out.file.flush()
            clean = True
            try:
                for outcome in witness.run(track, interval=interval, rounds=1 if once else None):
                    clean = _report(outcome) and clean
                    out.file.flush()
            except KeyboardInterrupt:
                pass
        if not clean:
            raise typer.Exit(1)

    run(body)


@witness_app.command("vkey")
def witness_vkey(key_file: KeyFile) -> None:
    """Print the cosigner vkey of a witness member's key file (what clients pin)."""

    def body() -> None:
        keys = read_key_file(key_file)
        out.print(CosignatureSigner(keys.name, keys.signing).verifier.to_vkey(), markup=False, soft_wrap=True)

    run(body)


@checkpoint_app.command("show")
def checkpoint_show(
    track: Annotated[str, typer.Option("--track", "-t", envvar="BACKCHANNEL_TRACK", help="Track id.")],
    key_file: KeyFile,
    witness: Annotated[
        list[str] | None, typer.Option("--witness", "-w", help="A witness's cosigner vkey (repeatable).")
    ] = None,
    quorum: Annotated[
        int | None, typer.Option("--quorum", min=0, help="How many must be valid (default: every --witness).")
    ] = None,
    cosigned: Annotated[
        int | None,
        typer.Option("--cosigned", min=1, help="The newest checkpoint with this many cosignatures."),
    ] = None,
    log_key: Annotated[str | None, typer.Option("--log-key", help="Pin the log's vkey.")] = None,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Print the checkpoint note, each signature line, and which cosignatures are valid."""

    def body() -> None:
        verifiers = [CosignatureVerifier.from_vkey(text) for text in witness or []]
        policy = WitnessPolicy.of(verifiers, len(verifiers) if quorum is None else quorum)
        with connect(server, key_file) as client:
            note = client.log.fetch_checkpoint(track, cosigned=cosigned)
            pinned = log_key or client.service_info()["log_key"]
        log = NoteVerifier.from_vkey(pinned)
        result = policy.check(note)
        log_ok = any(log.is_valid_for(note.checkpoint.to_bytes(), s) for s in note.signatures)
        verdict = "trusted" if log_ok and result.satisfied else "NOT trusted"
        if as_json:
            print_json(
                {
                    "checkpoint": note.to_text(),
                    "size": note.checkpoint.size,
                    "log_signature_valid": log_ok,
                    "cosignatures": result.describe(),
                    "trusted": verdict == "trusted",
                }
            )
            return
        render.print_checkpoint(out, note)
        out.print(_lines(note, log, verifiers))
        style = "bold green" if verdict == "trusted" else "bold red"
        out.print(
            Text(
                f"{verdict}: log signature {'valid' if log_ok else 'INVALID'}; {result.describe()}",
                style=style,
            ),
            soft_wrap=True,
        )

    run(body)


def _lines(note: SignedCheckpoint, log: NoteVerifier, witnesses: list[CosignatureVerifier]) -> Table:
    table = Table(title=f"signatures of checkpoint {note.checkpoint.size}", title_justify="left")
    for column in ("name", "key ID", "kind", "valid"):
        table.add_column(column, no_wrap=column != "name")
    body = note.checkpoint.to_bytes()
    for signature in note.signatures:
        known = next((w for w in witnesses if w.matches(signature)), None)
        if signature.name == log.name and signature.key_hash == log.key_hash:
            kind, valid = "log", log.is_valid_for(body, signature)
        elif known is not None:
            kind, valid = "cosignature (known witness)", known.is_valid_for(note.checkpoint, signature)
        else:
            table.add_row(signature.name, signature.key_hash.hex(), "unknown key", "-")
            continue
        table.add_row(
            signature.name, signature.key_hash.hex(), kind, "[green]yes[/]" if valid else "[red]NO[/]"
        )
    return table
