"""``backchannel text ...``: the negotiating text against a running server (ADR-0020).

``draft FILE --doc ID``, ``edit FILE --doc ID --base N`` (a stale base is
refused with the current version, exit 1), ``show ID [--version N]``,
``diff ID A B``, ``comment ID "..."`` (private to the mediator), ``comments
ID``, ``list`` and ``policy mediator-only|shared``. They take ``--server``,
``--key`` and ``--track`` like the other commands that drive a server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from backchannel.cli._common import (
    DEFAULT_SERVER,
    Json,
    KeyFile,
    Server,
    Track,
    connect,
    execute,
    out,
    print_json,
    read_file,
    run,
)
from backchannel.errors import EncodingError
from backchannel.log.canonical import JSONValue

__all__ = ["text_app"]

text_app = typer.Typer(
    help="The negotiating text: draft, edit, show, diff and comment.", no_args_is_help=True
)

Doc = Annotated[str, typer.Option("--doc", help="The document id, e.g. 'framework'.")]
DocArgument = Annotated[str, typer.Argument(help="The document id.")]


def _read_text(path: Path) -> str:
    try:
        return read_file(path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise EncodingError(f"{path} is not UTF-8 text") from e


@text_app.command("draft")
def text_draft(
    file: Annotated[Path, typer.Argument(help="The text, a UTF-8 file.")],
    doc: Doc,
    key_file: KeyFile,
    track: Track,
    title: Annotated[
        str | None, typer.Option("--title", help="The title (default: the document id).")
    ] = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Draft a new document: its version 1 (the mediator, or anyone under the shared policy)."""

    def body() -> None:
        command = {"doc": doc, "title": title or doc, "text": _read_text(file)}
        execute(server, key_file, track, "draft_text", command)
        out.print(f"{doc}: version 1 drafted", markup=False, soft_wrap=True)

    run(body)


@text_app.command("edit")
def text_edit(
    file: Annotated[Path, typer.Argument(help="The whole new text, a UTF-8 file.")],
    doc: Doc,
    base: Annotated[int, typer.Option("--base", min=1, help="The version your edit is based on.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Edit a document, based on version --base; refused with the current version if that is stale."""

    def body() -> None:
        command: dict[str, JSONValue] = {"doc": doc, "base_version": base, "text": _read_text(file)}
        execute(server, key_file, track, "edit_text", command)
        out.print(f"{doc}: version {base + 1} recorded (based on {base})", markup=False, soft_wrap=True)

    run(body)


@text_app.command("show")
def text_show(
    doc: DocArgument,
    key_file: KeyFile,
    track: Track,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="A version (default: current).")
    ] = None,
    server: Server = DEFAULT_SERVER,
    as_json: Json = False,
) -> None:
    """Print a version of a document (its digest checked)."""

    def body() -> None:
        with connect(server, key_file) as client:
            shown = client.texts.get(track, doc, version)
        if as_json:
            print_json(shown)
            return
        based = "" if shown["base_version"] is None else f", edited from v{shown['base_version']}"
        out.print(
            Text(
                f"{shown['doc']} v{shown['version']} of {shown['current_version']}: {shown['title']} "
                f"(by {shown['by']} at {shown['at']}{based}; policy {shown['policy']})",
                style="bold",
            ),
            soft_wrap=True,
        )
        out.print(f"sha256 {shown['text_digest']}", markup=False, style="dim", soft_wrap=True)
        out.print(
            str(shown["text"]), markup=False, soft_wrap=True, end="" if shown["text"].endswith("\n") else "\n"
        )

    run(body)


@text_app.command("diff")
def text_diff(
    doc: DocArgument,
    old: Annotated[int, typer.Argument(help="The version to diff from.", min=1)],
    new: Annotated[int, typer.Argument(help="The version to diff to.", min=1)],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """A unified diff between two versions."""

    def body() -> None:
        with connect(server, key_file) as client:
            diff = client.texts.diff(track, doc, old, new)
        if not diff:
            out.print(f"{doc}: v{old} and v{new} are identical", markup=False, soft_wrap=True)
            return
        styles = {"+": "green", "-": "red", "@": "cyan"}
        for line in diff.splitlines():
            style = "bold" if line.startswith(("+++", "---")) else styles.get(line[:1], "")
            out.print(Text(line, style=style), soft_wrap=True)

    run(body)


@text_app.command("comment")
def text_comment(
    doc: DocArgument,
    comment: Annotated[str, typer.Argument(help="The comment, seen by the mediator and your party only.")],
    key_file: KeyFile,
    track: Track,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="The version (default: current).")
    ] = None,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Comment privately to the mediator on a version of a document."""

    def body() -> None:
        with connect(server, key_file) as client:
            about = version or int(client.texts.get(track, doc)["version"])
        execute(server, key_file, track, "comment_text", {"doc": doc, "version": about, "text": comment})
        out.print(f"{doc}: comment on v{about} sent to the mediator", markup=False, soft_wrap=True)

    run(body)


@text_app.command("comments")
def text_comments(
    doc: DocArgument, key_file: KeyFile, track: Track, server: Server = DEFAULT_SERVER, as_json: Json = False
) -> None:
    """The comments on a document you may read (the mediator: all; a delegation: its own)."""

    def body() -> None:
        with connect(server, key_file) as client:
            comments = client.texts.comments(track, doc)
        if as_json:
            print_json(comments)
            return
        table = Table(title=f"{doc}: {len(comments)} comment(s) you may read", title_justify="left")
        for column in ("version", "by", "at", "comment"):
            table.add_column(column, overflow="fold")
        for c in comments:
            table.add_row(f"v{c['version']}", c["by"], c["at"], c["text"])
        out.print(table)

    run(body)


@text_app.command("list")
def text_list(
    key_file: KeyFile, track: Track, server: Server = DEFAULT_SERVER, as_json: Json = False
) -> None:
    """The track's documents and its text policy."""

    def body() -> None:
        with connect(server, key_file) as client:
            listed = client.texts.list_all(track)
        if as_json:
            print_json(listed)
            return
        table = Table(title=f"{track}: texts (policy {listed['policy']})", title_justify="left")
        for column in ("doc", "title", "version", "by", "at"):
            table.add_column(column, overflow="fold")
        for d in listed["documents"]:
            table.add_row(d["doc"], d["title"], f"v{d['version']}", d["by"], d["at"])
        out.print(table)

    run(body)


@text_app.command("policy")
def text_policy(
    policy: Annotated[str, typer.Argument(help="mediator-only or shared.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Set who may draft and edit (the mediator's principal)."""
    run(lambda: execute(server, key_file, track, "set_text_policy", {"policy": policy}))
