"""``backchannel language ...``: the mediator's language aid on the command line (issue #15).

- ``language check TEXT [--reframed OTHER] [--dictionary PATH ...] [--rules FILE] [--lexical] [--json]``:
  the escalation codes of TEXT (with the phrase and pattern behind each), whether
  it is escalatory and why, softer reframings when it is, and with ``--reframed``
  the drift of OTHER from TEXT (similarity and method, number differences,
  commitment flips, blocked or not).

Nothing here talks to a server or sends anything: suggestions are printed only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backchannel.errors import BackchannelError
from backchannel.language.coding import Coder
from backchannel.language.drift import LexicalEmbedder
from backchannel.language.lexicon import Lexicon, load_dictionary
from backchannel.language.pipeline import Analysis, LanguageAid
from backchannel.language.reframing import Reframer

__all__ = ["language_app"]

language_app = typer.Typer(
    help="The mediator's language aid: escalation codes, reframings, meaning drift.", no_args_is_help=True
)
_out = Console(highlight=False)


@language_app.callback()
def _language() -> None:
    """The mediator's language aid: escalation codes, reframings, meaning drift."""


_err = Console(stderr=True, highlight=False)


def _aid(dictionaries: Sequence[Path], rules: Path | None, lexical: bool) -> LanguageAid:
    lexicon = Lexicon.builtin()
    for path in dictionaries:
        lexicon = lexicon.merged(load_dictionary(path))
    return LanguageAid(
        coder=Coder(lexicon),
        reframer=Reframer.builtin(rules),
        embedder=LexicalEmbedder() if lexical else None,
    )


def _verdict(analysis: Analysis) -> Panel:
    coding = analysis.coding
    if coding.escalatory:
        return Panel(Text(coding.reason), title="ESCALATORY", title_align="left", border_style="red")
    weight = (
        "no code found" if coding.goldstein is None else f"most conflictual weight {coding.goldstein:+.1f}"
    )
    return Panel(Text(f"not escalatory ({weight})"), title="ok", title_align="left", border_style="green")


def _codes(analysis: Analysis) -> Table:
    table = Table(title="codes", title_justify="left")
    for column in ("code", "name", "goldstein", "match", "pattern", "source"):
        table.add_column(column)
    for c in analysis.coding.codes:
        weight = "?" if c.goldstein is None else f"{c.goldstein:+.1f}"
        table.add_row(c.code, c.name, weight, c.match, c.pattern, c.source)
    return table


def _suggestions(analysis: Analysis) -> Table:
    table = Table(title="suggested reframings (never sent: pick or edit one)", title_justify="left")
    table.add_column("#")
    table.add_column("text")
    table.add_column("rules")
    table.add_column("after")
    for i, (suggestion, coding) in enumerate(analysis.suggestions, 1):
        after = "escalatory" if coding.escalatory else "not escalatory"
        weight = "" if coding.goldstein is None else f" ({coding.goldstein:+.1f})"
        rules = ", ".join(rule for rule, _, _ in suggestion.changes)
        table.add_row(str(i), suggestion.text, rules, after + weight)
    return table


def _drift(analysis: Analysis) -> Panel:
    drift = analysis.drift
    assert drift is not None
    lines = [
        f"similarity {drift.similarity:.2f} (threshold {drift.threshold:.2f}, {drift.method})",
        *(drift.reasons or ("no drift found",)),
    ]
    if drift.blocked:
        title, style = "drift: BLOCKED", "red"
    elif drift.flagged:
        title, style = "drift: flagged", "yellow"
    else:
        title, style = "drift: ok", "green"
    return Panel(Text("\n".join(lines)), title=title, title_align="left", border_style=style)


def _render(analysis: Analysis) -> Group:
    parts: list[Panel | Table] = [_verdict(analysis)]
    if analysis.coding.codes:
        parts.append(_codes(analysis))
    if analysis.suggestions:
        parts.append(_suggestions(analysis))
    if analysis.drift is not None:
        parts.append(_drift(analysis))
    return Group(*parts)


@language_app.command("check")
def check(
    text: Annotated[str, typer.Argument(help="The message to check.")],
    reframed: Annotated[
        str | None, typer.Option("--reframed", help="A reframing of TEXT to check for meaning drift.")
    ] = None,
    dictionary: Annotated[
        list[Path] | None,
        typer.Option(
            "--dictionary",
            help="Also load a dictionary: a PETRARCH CAMEO verb file, the ICEWS code table (CSV) or a "
            "lexicon in the built-in TOML format. Repeatable.",
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="A TOML file of reframing rules extending the built-in ones."),
    ] = None,
    lexical: Annotated[
        bool,
        typer.Option("--lexical", help="Measure drift lexically even if the embedding model is installed."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Code TEXT for escalation, suggest softer frames, and check a reframing's drift."""
    try:
        analysis = _aid(dictionary or [], rules, lexical).check(text, reframed)
    except BackchannelError as e:
        from backchannel.cli.render import diagnostic

        _err.print(diagnostic(e))
        raise typer.Exit(1) from e
    if as_json:
        print(json.dumps(analysis.to_dict(), ensure_ascii=False, indent=2))
    else:
        _out.print(_render(analysis))
