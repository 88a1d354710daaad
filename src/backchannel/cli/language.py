"""``backchannel language ...``: the mediator's language aid on the command line (issue #15).

- ``language check TEXT [--reframed OTHER] [--dictionary PATH ...] [--rules FILE] [--lexical] [--json]``:
  the escalation codes of TEXT (with the phrase and pattern behind each), whether
  it is escalatory and why, softer reframings when it is, and with ``--reframed``
  the drift of OTHER from TEXT (similarity and method, number differences,
  commitment flips, blocked or not).
- ``language risk TEXT --proposal JSON --position JSON --issues JSON [--history W,...] [--json]``:
  the rejection risk of a proposal, with its inputs and their contributions.
- ``language calibrate [--seed N] [--n N] [--json]``: the risk model's
  calibration on the documented simulation (reliability table, Brier, ECE).

Nothing here talks to a server or sends anything: suggestions are printed only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, TypeVar

import numpy as np
import typer
from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from backchannel.errors import BackchannelError, EncodingError
from backchannel.language.coding import Coder
from backchannel.language.drift import LexicalEmbedder
from backchannel.language.lexicon import Lexicon, load_dictionary
from backchannel.language.pipeline import Analysis, LanguageAid
from backchannel.language.reframing import Reframer
from backchannel.language.risk import Calibration, IssueScale, RiskModel, RiskScore

__all__ = ["language_app"]

_T = TypeVar("_T")

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
    for i, item in enumerate(analysis.to_dict()["suggestions"], 1):
        after = "escalatory" if item["escalatory"] else "not escalatory"
        weight = "" if item["goldstein"] is None else f" ({item['goldstein']:+.1f})"
        notes = [*item["commitment_flips"], *([] if item["numbers_same"] else ["NUMBERS DIFFER"])]
        rules = ", ".join(change["rule"] for change in item["changes"])
        table.add_row(str(i), item["text"], rules, "; ".join([after + weight, *notes]))
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

    def work() -> Analysis:
        aid = _aid(dictionary or [], rules, lexical)
        if reframed is not None and not lexical:
            with _err.status("loading the embedding model (all-MiniLM-L6-v2, offline) ..."):
                _ = aid.embedder  # loaded once; the lexical fallback when the extra is absent
        return aid.check(text, reframed)

    analysis = _guarded(work)
    if as_json:
        print(json.dumps(analysis.to_dict(), ensure_ascii=False, indent=2))
    else:
        _out.print(_render(analysis))


def _guarded(work: Callable[[], _T]) -> _T:
    """Run ``work``; a BackchannelError becomes a diagnostic on stderr and exit code 1."""
    try:
        return work()
    except BackchannelError as e:
        from backchannel.cli.render import diagnostic  # the error path only

        _err.print(diagnostic(e))
        raise typer.Exit(1) from e


def _json_object(text: str, option: str) -> dict[str, object]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise EncodingError(f"{option}: not JSON: {e}") from e
    if not isinstance(value, dict):
        raise EncodingError(f"{option}: must be a JSON object")
    return value


def _issues(text: str) -> dict[str, IssueScale]:
    issues: dict[str, IssueScale] = {}
    for name, scale in _json_object(text, "--issues").items():
        if isinstance(scale, list) and len(scale) == 2 and all(isinstance(v, int | float) for v in scale):
            issues[name] = (float(scale[0]), float(scale[1]))
        elif isinstance(scale, list) and all(isinstance(v, str) for v in scale):
            issues[name] = [str(v) for v in scale]
        else:
            raise EncodingError(f"--issues.{name}: must be [low, high] or a list of options in order")
    return issues


def _history(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise EncodingError(f"--history: comma-separated Goldstein weights, e.g. -2,-4.4,-7 ({e})") from e


def _calibration_table(calibration: Calibration) -> Table:
    title = f"calibration on {calibration.n_test} held-out ({calibration.source})"
    table = Table(title=title, title_justify="left")
    for column in ("predicted range", "count", "mean predicted", "observed"):
        table.add_column(column)
    for b in calibration.bins:
        table.add_row(f"{b.low:.1f}-{b.high:.1f}", str(b.count), f"{b.predicted:.3f}", f"{b.observed:.3f}")
    table.caption = (
        f"Brier {calibration.brier:.3f}, log loss {calibration.log_loss:.3f}, ECE {calibration.ece:.3f}"
    )
    return table


def _risk_panel(score: RiskScore) -> Panel:
    inputs = score.inputs
    weight = "no code" if inputs.goldstein is None else f"{inputs.goldstein:+.1f}"
    issues = ", ".join(f"{k} {v:.2f}" for k, v in inputs.per_issue.items())
    lines = [
        f"rejection risk {score.probability:.2f}",
        (
            f"inputs: most conflictual weight {weight}; distance from the recipient's position "
            f"{inputs.distance:.2f} ({issues}); trend {inputs.trend:+.2f} per message"
        ),
        "log-odds: " + ", ".join(f"{k} {v:+.2f}" for k, v in score.contributions.items()),
    ]
    return Panel(Text("\n".join(lines)), title="rejection risk", title_align="left")


Seed = Annotated[int, typer.Option("--seed", help="Seed of the simulation the risk model is fitted on.")]


@language_app.command("risk")
def risk(
    text: Annotated[str, typer.Argument(help="The proposal's text.")],
    proposal: Annotated[str, typer.Option("--proposal", help='Its values as JSON, e.g. {"cap": 3.67}.')],
    position: Annotated[str, typer.Option("--position", help="The recipient's last stated values, as JSON.")],
    issues: Annotated[
        str, typer.Option("--issues", help="Each issue's scale as JSON: [low, high] or options in order.")
    ],
    history: Annotated[
        str, typer.Option("--history", help="The last messages' most conflictual weights, oldest first.")
    ] = "",
    seed: Seed = 15,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Estimate how likely a proposal is to be rejected, with its inputs (never a bare number)."""

    def work() -> RiskScore:
        model = RiskModel.simulated(np.random.default_rng(seed))
        return model.assess(
            Coder().code(text),
            _json_object(proposal, "--proposal"),
            _json_object(position, "--position"),
            _issues(issues),
            _history(history),
        )

    score = _guarded(work)
    if as_json:
        print(json.dumps(score.to_dict(), indent=2))
    else:
        _out.print(Group(_risk_panel(score), _calibration_table(score.calibration)))


@language_app.command("calibrate")
def calibrate(
    seed: Seed = 15,
    n: Annotated[int, typer.Option("--n", min=100, help="How many simulated proposals.")] = 20_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Fit the rejection-risk model on the documented simulation and show its calibration."""
    model = _guarded(lambda: RiskModel.simulated(np.random.default_rng(seed), n))
    if as_json:
        names = ("base", "severity", "distance", "worsening")
        doc = {"coefficients": dict(zip(names, model.coefficients, strict=True))}
        print(json.dumps({**doc, "calibration": model.calibration.to_dict()}, indent=2))
    else:
        _out.print(_calibration_table(model.calibration))
