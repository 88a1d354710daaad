"""What every CLI sub-app shares: the consoles, the error wrapper and the common options.

:func:`run` ends every command: a :class:`~backchannel.errors.BackchannelError`
is printed as its ``diagnostics()`` and exits with status 1; ``--verbose``
(:func:`set_verbose`) shows the traceback instead. :func:`connect` opens the SDK
client of ``--server`` as the member of ``--key``; :func:`local_log` opens the
log of a data directory.

This module imports no sub-app (they import it; :mod:`backchannel.cli.main` mounts them).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console, Group
from rich.table import Table

from backchannel.cli import render
from backchannel.errors import BackchannelError, EncodingError
from backchannel.log.canonical import JSONValue, loads_strict
from backchannel.protocol.keyfile import read_key_file
from backchannel.sdk import BackchannelClient
from backchannel.service.config import LogNode, Settings, open_log

__all__ = [
    "CPUS",
    "DEFAULT_SERVER",
    "DataDir",
    "FoldingConsole",
    "Json",
    "KeyFile",
    "LogName",
    "Server",
    "Track",
    "connect",
    "err",
    "execute",
    "local_log",
    "out",
    "print_json",
    "read_body",
    "read_file",
    "read_json_object",
    "run",
    "set_verbose",
]


class FoldingConsole(Console):
    """A console whose tables fold long cells onto more lines instead of cutting them with "…".

    Rich truncates a cell that does not fit its column (``overflow="ellipsis"``): at 80
    columns a message id or a signer lost its tail. Every table printed here (and every
    table inside a printed group or panel row) folds instead, so nothing is ever hidden.
    """

    def print(self, *objects: Any, **kwargs: Any) -> None:  # noqa: ANN401 - Console.print's own signature
        """Print like :meth:`rich.console.Console.print`, with every table set to fold."""
        for item in objects:
            _fold(item)
        super().print(*objects, **kwargs)


def _fold(renderable: object) -> None:
    if isinstance(renderable, Table):
        for column in renderable.columns:
            column.overflow = "fold"
            column.no_wrap = False
            for cell in column.cells:
                _fold(cell)
    elif isinstance(renderable, Group):
        for inner in renderable.renderables:
            _fold(inner)


out = FoldingConsole(highlight=False)
"""Where results go (stdout)."""
err = FoldingConsole(stderr=True, highlight=False)
"""Where diagnostics and progress go (stderr)."""
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document (for scripts), not tables.")]
"""The ``--json`` option of every listing command."""


def print_json(value: object) -> None:
    """Write ``value`` as one JSON document on stdout: plain text, never wrapped at the terminal's width."""
    sys.stdout.write(json.dumps(value, default=str, ensure_ascii=False, indent=2) + "\n")


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
Server = Annotated[
    str, typer.Option("--server", "-s", envvar="BACKCHANNEL_SERVER", help="The service's public origin.")
]
KeyFile = Annotated[
    Path,
    typer.Option("--key", "-k", envvar="BACKCHANNEL_KEY", help="Your key file (the member is its name)."),
]
Track = Annotated[str, typer.Option("--track", "-t", envvar="BACKCHANNEL_TRACK", help="Track id.")]
DEFAULT_SERVER = "http://127.0.0.1:8000"
"""The ``--server`` default."""
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
"""The CPUs this process may use (the ``--jobs`` default)."""
T = TypeVar("T")


def set_verbose(verbose: bool) -> None:
    """Show tracebacks instead of diagnostics (``--verbose``)."""
    _state["verbose"] = verbose


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
def local_log(
    data_dir: Path | None, log_name: str, *, create: bool = False, check: bool = False
) -> Iterator[LogNode]:
    """The log of a data directory, open for the block."""
    with open_log(Settings.embedded(data_dir, log_name), create=create, check=check) as node:
        yield node


def connect(server: str, key_file: Path) -> BackchannelClient:
    """The SDK client of ``server`` as the member named in ``key_file``."""
    keys = read_key_file(key_file)
    return BackchannelClient(server, keys.name, keys)


def execute(server: str, key_file: Path, track: str, command: str, body: Mapping[str, JSONValue]) -> None:
    """Sign and send one command; print the events it logged (and a message's id)."""
    with connect(server, key_file) as client:
        result = client.execute(command, body, track=track)
    types = ", ".join(str(e.get("type")) for e in result["events"])
    replayed = " (replayed: already done)" if result["replayed"] else ""
    out.print(f"{command}: {types} at index {result['first_index']}{replayed}", markup=False, soft_wrap=True)
    digest = result["events"][0].get("command_digest") if result["events"] else None
    if command in {"submit_message", "reframe_message"} and digest:
        out.print(f"message id: {digest}", markup=False, soft_wrap=True)


def read_body(text: str) -> Mapping[str, JSONValue]:
    """The ``--body`` option's JSON object."""
    try:
        value = loads_strict(text)
    except EncodingError as e:
        raise EncodingError(f"--body: {e}") from e
    if not isinstance(value, Mapping):
        raise EncodingError("--body: expected a JSON object")
    return value


def read_file(path: Path) -> bytes:
    """The bytes of ``path`` (EncodingError naming it if it cannot be read)."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise EncodingError(f"cannot read {path}: {e.strerror}") from e


def read_json_object(path: Path, what: str) -> dict[str, JSONValue]:
    """The JSON object in ``path`` (strict: duplicate keys, NaN... refused), described as ``what``.

    Raises:
        EncodingError: the file cannot be read, is not JSON, or is not an object.
    """
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EncodingError(f"{path}: cannot read {what}: {e.strerror}") from e
    value = loads_strict(data)
    if not isinstance(value, dict):
        raise EncodingError(f"{path}: expected a JSON object ({what})")
    return value
