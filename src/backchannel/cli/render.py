"""Rich renderings for the CLI: tables, panels, progress and diagnostics.

Pure presentation: every function takes values and returns a Rich renderable.
Nothing here prints a private key (only :meth:`KeyPair.public_dict` is shown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from backchannel.errors import BackchannelError, VerificationError
from backchannel.keyfile import KeyPair
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.service.export import VerifiedLog
from backchannel.store.base import TrackInfo

__all__ = [
    "diagnostic",
    "print_checkpoint",
    "print_verification",
    "progress",
    "proof",
    "public_keys",
    "tracks",
]


def diagnostic(error: BackchannelError) -> Panel:
    """An error as a red panel with its diagnostics (and the bad index, if any)."""
    text = Text(error.diagnostics())
    if isinstance(error, VerificationError) and error.index is not None:
        text.append(f"\nfirst bad index: {error.index}", style="bold")
    return Panel(text, title="error", title_align="left", border_style="red")


def public_keys(keys: KeyPair, path: Path) -> Group:
    """The public halves of a key file, one value per line (each fits 80 columns unwrapped)."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_row("ed25519 key id", keys.signing.key_id)
    table.add_row("ed25519 public", keys.signing.verifying_key.to_text())
    table.add_row("x25519 key id", keys.agreement.key_id)
    table.add_row("x25519 public", keys.agreement.to_text())
    return Group(Text(f"keys of {keys.name} ({path})", style="bold"), table)


def tracks(infos: Sequence[TrackInfo]) -> Table:
    """A table of tracks."""
    table = Table(title="tracks")
    for column in ("track", "entries", "origin"):
        table.add_column(column, overflow="fold")
    for info in infos:
        table.add_row(info.track, str(info.size), info.origin)
    return table


def print_checkpoint(console: Console, note: SignedCheckpoint) -> None:
    """Print a signed checkpoint verbatim, never wrapped or cropped, so it can be copied exactly."""
    console.print(Rule("signed checkpoint", style="cyan", align="left"))
    console.print(note.to_text().rstrip("\n"), soft_wrap=True, markup=False)
    console.print(Rule(style="cyan"))


def _facts() -> Table:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    return table


def print_verification(console: Console, verified: VerifiedLog) -> None:
    """Print the summary of a successful verification; the log key on one unwrapped line."""
    report = verified.report
    table = _facts()
    table.add_row("track", report.track)
    table.add_row("entries verified", str(report.size))
    table.add_row("checkpoints verified", str(report.checkpoints))
    table.add_row("root", report.root.hex())
    table.add_row("members", ", ".join(f"{m} ({len(ids)} key)" for m, ids in report.members.items()) or "-")
    console.print(Text("OK: every signature, leaf, root and checkpoint verifies", style="bold green"))
    console.print(table)
    pin = "" if verified.pinned else "  (not pinned)"
    console.print(f"log key: {verified.log_key}{pin}", soft_wrap=True, markup=False)
    if not verified.pinned:
        console.print(
            Text(
                "The log key was read from the data itself: this proves integrity, not who signed it. "
                "Pin it with --log-key.",
                style="yellow",
            )
        )
    if report.latest is not None:
        print_checkpoint(console, report.latest)


def proof(track: str, index: int, leaf: bytes, path: Sequence[bytes], note: SignedCheckpoint) -> Group:
    """An inclusion proof (print the checkpoint it verifies against with :func:`print_checkpoint`)."""
    table = _facts()
    table.add_row("track", track)
    table.add_row("index", str(index))
    table.add_row("tree size", str(note.checkpoint.size))
    table.add_row("leaf hash", leaf.hex())
    for i, node in enumerate(path):
        table.add_row(f"proof[{i}]", node.hex())
    return Group(Text("inclusion proof (verified)", style="bold green"), table)


@contextmanager
def progress(console: Console, label: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar on ``console``; yields a callback taking the count done so far."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)

        def advance(done: int) -> None:
            bar.update(task, completed=done)

        yield advance
