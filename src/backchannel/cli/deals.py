"""``backchannel deal`` and ``backchannel commit``: staged deals and commitments against a running server.

::

    backchannel deal draft FILE.json                  # circulate a draft (mediator principal)
    backchannel deal prepare FILE.json --deadline +10m # open the vote (mediator principal)
    backchannel deal vote ID --yes | --no             # sign the deal's hash (a delegation principal)
    backchannel deal show ID                          # phases, steps, votes, status, compensations
    backchannel deal list
    backchannel commit publish LABEL --content TEXT --out SECRET.json
    backchannel commit reveal --secret SECRET.json

``deal vote`` reads the deal first and signs the hash of the terms it was
shown (the SDK checks the service's hash against them). ``commit publish``
draws a 32-byte salt, publishes ``SHA-256(salt || content)`` and writes the
secret (id, salt, content) to a 0600 file for ``commit reveal``.

:func:`play_deals` is the demo's part: one deal committed, one aborted by a
NO and rolled back, one commitment published and revealed (see its docstring).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from backchannel.cli._commands import DEFAULT_SERVER, KeyFile, Server, Track, _client, read_json_object
from backchannel.cli.main import app, out, run
from backchannel.client import BackchannelClient, CommitmentSecret, ProblemError
from backchannel.errors import ConfigurationError, EncodingError
from backchannel.log.canonical import JSONValue

__all__ = ["example_deal", "parse_deadline", "play_deals", "render_deal"]

deal_app = typer.Typer(
    help="Staged deals: draft, prepare, vote, show (two-phase commit).", no_args_is_help=True
)
commit_app = typer.Typer(
    help="Commitments: publish a salted hash now, reveal it later.", no_args_is_help=True
)
app.add_typer(deal_app, name="deal")
app.add_typer(commit_app, name="commit")

_RELATIVE = re.compile(r"\+(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STATUS_STYLE = {"drafted": "yellow", "preparing": "cyan", "committed": "bold green", "aborted": "bold red"}


def parse_deadline(text: str, now: datetime | None = None) -> datetime:
    """A deadline: ``+90s``, ``+10m``, ``+2h``, ``+1d`` from ``now``, or a UTC time ``2026-05-01T12:00:00Z``.

    Raises:
        EncodingError: neither form.
    """
    match = _RELATIVE.fullmatch(text.strip())
    if match is not None:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return (now or datetime.now(UTC)) + timedelta(seconds=seconds)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as e:
        raise EncodingError(f"--deadline: {text!r} is neither +N[s|m|h|d] nor an ISO 8601 time") from e
    if parsed.tzinfo is None:
        raise EncodingError(f"--deadline: {text!r} has no time zone (end it with Z)")
    return parsed.astimezone(UTC)


def _read_deal(file: Path) -> Mapping[str, JSONValue]:
    return read_json_object(file, "a deal {id, title, phases}")


def _report(result: Mapping[str, Any]) -> None:
    types = ", ".join(str(e.get("type")) for e in result["events"])
    replayed = " (replayed: already done)" if result["replayed"] else ""
    out.print(f"{types} at index {result['first_index']}{replayed}", markup=False, soft_wrap=True)


# --- rendering --------------------------------------------------------------------------------------
def _quantity(quantity: Mapping[str, Any]) -> str:
    value, unit = quantity.get("value"), quantity.get("unit")
    shown = json.dumps(value) if isinstance(value, bool) else str(value)
    return shown if unit is None else f"{shown} {unit}"


def _condition(condition: Any) -> str:  # noqa: ANN401 - a JSON condition: text or {"ref": ...}
    return f"↳ {condition['ref']}" if isinstance(condition, Mapping) else str(condition)


def render_deal(view: Mapping[str, Any]) -> Group:
    """A deal as Rich tables: phases and steps (with compensations of an abort), votes, status."""
    outcome = view.get("outcome") or {}
    void = {(c["phase"], c["step"]) for c in outcome.get("compensations", [])}
    return Group(_steps_table(view, void), _votes_table(view), *_status_lines(view, outcome, len(void)))


def _steps_table(view: Mapping[str, Any], void: set[tuple[int, int]]) -> Table:
    deal = view["deal"]
    table = Table(title=f"deal {view['deal_id']}: {deal['title']}", title_justify="left")
    for column in ("phase", "step", "party", "action", "issue", "quantity", "conditions"):
        table.add_column(column)
    if void:
        table.add_column("rollback")
    for p, phase in enumerate(deal["phases"], 1):
        for s, step in enumerate(phase, 1):
            row = [str(p), str(s), step["party"], step["action"], step["issue"] or "-"]
            row += [_quantity(step["quantity"]), "\n".join(_condition(c) for c in step["conditions"]) or "-"]
            if void:
                row.append("void" if (p, s) in void else "")
            table.add_row(*row)
    return table


def _votes_table(view: Mapping[str, Any]) -> Table:
    table = Table(title="votes", title_justify="left")
    for column in ("voter", "vote", "signed hash"):
        table.add_column(column)
    ballots = {v["member"]: v for v in view["votes"]}
    for voter in view["voters"]:
        ballot = ballots.get(voter)
        if ballot is None:
            table.add_row(voter, "-", "(no vote yet)" if view["status"] == "preparing" else "(none)")
            continue
        same = ballot["deal_hash"] == view["deal_hash"]
        shown = ballot["deal_hash"][:16] + ("…" if same else "… (NOT the deal's hash)")
        table.add_row(voter, str(ballot["vote"]).upper(), shown)
    return table


def _status_lines(view: Mapping[str, Any], outcome: Mapping[str, Any], void: int) -> list[Text]:
    status = str(view["status"])
    lines = [
        Text.assemble(
            "status: ", (status, _STATUS_STYLE.get(status, "")), f"  (revision {view['revision']})"
        ),
        Text(f"deal hash: {view['deal_hash']}"),
    ]
    if view.get("deadline"):
        lines.append(Text(f"prepare deadline: {view['deadline']}"))
    if outcome:
        reason = f" ({outcome['reason']}: {outcome['detail']})" if outcome.get("reason") else ""
        lines.append(Text(f"{outcome['status']} at {outcome['at']}{reason}"))
    if void:
        lines.append(Text(f"compensations: {void} step(s) void, none took effect; the prior state stands"))
    return lines


# --- deal commands ----------------------------------------------------------------------------------
@deal_app.command("draft")
def deal_draft(
    file: Annotated[Path, typer.Argument(help="The deal, a JSON file ({'id', 'title', 'phases'}).")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Circulate (or revise) a deal as a draft: no votes until it is prepared (mediator principal)."""

    def body() -> None:
        with _client(server, key_file) as client:
            _report(client.draft_deal(track, _read_deal(file)))

    run(body)


@deal_app.command("prepare")
def deal_prepare(
    file: Annotated[Path, typer.Argument(help="The deal, a JSON file ({'id', 'title', 'phases'}).")],
    deadline: Annotated[
        str, typer.Option("--deadline", help="+90s, +10m, +2h, +1d, or 2026-05-01T12:00:00Z.")
    ],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Open the vote on a deal until the deadline (mediator principal); prints the hash voters sign."""

    def body() -> None:
        when = parse_deadline(deadline)
        with _client(server, key_file) as client:
            result = client.prepare_deal(track, _read_deal(file), when)
        _report(result)
        prepared = result["events"][0] if result["events"] else {}
        if prepared.get("type") == "deal.prepared":
            out.print(f"deal hash: {prepared['deal_hash']}", markup=False, soft_wrap=True)
            out.print(
                f"voters: {', '.join(prepared['voters'])}; deadline {prepared['deadline']}", markup=False
            )

    run(body)


@deal_app.command("vote")
def deal_vote(
    deal_id: Annotated[str, typer.Argument(help="The deal's id.")],
    yes: Annotated[bool, typer.Option("--yes/--no", help="Vote YES or NO on the deal's hash.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Vote on a deal: read it, check its hash against its terms, sign that hash (a delegation principal)."""

    def body() -> None:
        with _client(server, key_file) as client:
            view = client.deal(track, deal_id)
            result = client.vote_deal(track, deal_id, yes, deal_hash=view["deal_hash"])
        _report(result)
        final = [e for e in result["events"] if e["type"] in {"deal.committed", "deal.aborted"}]
        for event in final:
            out.print(f"deal {deal_id} {event['type'].removeprefix('deal.')}", markup=False)

    run(body)


@deal_app.command("show")
def deal_show(
    deal_id: Annotated[str, typer.Argument(help="The deal's id.")],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """A deal's phases, steps, votes and status (and an abort's compensations)."""

    def body() -> None:
        with _client(server, key_file) as client:
            out.print(render_deal(client.deal(track, deal_id)))

    run(body)


@deal_app.command("list")
def deal_list(key_file: KeyFile, track: Track, server: Server = DEFAULT_SERVER) -> None:
    """Every deal of the track you may see."""

    def body() -> None:
        with _client(server, key_file) as client:
            deals = client.deals(track)
        table = Table(title=f"{track}: {len(deals)} deal(s)", title_justify="left")
        for column in ("deal", "title", "status", "revision", "deadline"):
            table.add_column(column)
        for d in deals:
            style = _STATUS_STYLE.get(d["status"], "")
            status = Text(d["status"], style=style)
            table.add_row(d["deal_id"], d["title"], status, str(d["revision"]), d["deadline"] or "-")
        out.print(table)

    run(body)


# --- commitments ------------------------------------------------------------------------------------
def _write_secret(path: Path, secret: CommitmentSecret) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise ConfigurationError(f"cannot create {path}: {e.strerror}") from e
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(secret.to_dict(), f, indent=2)
        f.write("\n")


@commit_app.command("publish")
def commit_publish(
    label: Annotated[str, typer.Argument(help="What it is about, e.g. 'next steps agreed'.")],
    content: Annotated[
        str, typer.Option("--content", help="The text committed to (kept secret until revealed).")
    ],
    secret_file: Annotated[
        Path, typer.Option("--out", "-o", help="Where to keep the salt and content (created 0600).")
    ],
    key_file: KeyFile,
    track: Track,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Publish SHA-256(salt || content) with a fresh 32-byte salt; keep the secret file to reveal it."""

    def body() -> None:
        if secret_file.exists():
            raise ConfigurationError(f"{secret_file} exists: a secret is never overwritten")
        with _client(server, key_file) as client:
            secret = client.publish_commitment(track, label, content)
        _write_secret(secret_file, secret)
        out.print(
            f"commitment {secret.commitment_id} published: {secret.commitment}", markup=False, soft_wrap=True
        )
        out.print(
            f"salt and content kept in {secret_file} (reveal with `commit reveal --secret`)", markup=False
        )

    run(body)


@commit_app.command("reveal")
def commit_reveal(
    secret_file: Annotated[Path, typer.Option("--secret", help="The file `commit publish --out` wrote.")],
    key_file: KeyFile,
    server: Server = DEFAULT_SERVER,
) -> None:
    """Reveal a commitment: the service checks SHA-256(salt || content) against the published hash."""

    def body() -> None:
        try:
            secret = CommitmentSecret.from_dict(json.loads(secret_file.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise EncodingError(f"cannot read the secret {secret_file}: {e}") from e
        with _client(server, key_file) as client:
            _report(client.reveal_commitment(secret))
        out.print(
            f"commitment {secret.commitment_id} revealed: {secret.content}", markup=False, soft_wrap=True
        )

    run(body)


# --- the demo's part ----------------------------------------------------------------------------------
def example_deal(deal_id: str = "doha-phase-1") -> dict[str, JSONValue]:
    """Phase 1: sanctions-relief tier 1 for an enrichment cap of 3.67 %; phase 2: assets for the stockpile.

    Its issues (``enrichment_cap_pct`` in %, ``sanctions_relief`` with option
    ``tier-1``) are those of the Doha agenda (and of ``testing.world.SMALL_AGENDA``).
    """
    return {
        "id": deal_id,
        "title": "Sanctions relief for an enrichment cap",
        "phases": [
            [
                {"party": "iran", "action": "cap uranium enrichment", "issue": "enrichment_cap_pct",
                 "quantity": {"value": 3.67, "unit": "%"}, "conditions": ["IAEA verification in place"]},
                {"party": "usa", "action": "grant sanctions relief", "issue": "sanctions_relief",
                 "quantity": {"value": "tier-1", "unit": None}, "conditions": []},
            ],
            [
                {"party": "usa", "action": "release frozen assets", "issue": None,
                 "quantity": {"value": 6, "unit": "USD bn"}, "conditions": [{"ref": "step:1.1"}]},
                {"party": "iran", "action": "ship out enriched uranium", "issue": None,
                 "quantity": {"value": 300, "unit": "kg"}, "conditions": [{"ref": "step:1.2"}]},
            ],
        ],
    }  # fmt: skip


def full_relief_deal(deal_id: str = "doha-full-relief") -> dict[str, JSONValue]:
    """Full sanctions relief for continuous monitoring (the deal the demo sees aborted by one NO)."""
    return {
        "id": deal_id,
        "title": "Full sanctions relief for continuous monitoring",
        "phases": [
            [
                {"party": "usa", "action": "lift all sanctions", "issue": "sanctions_relief",
                 "quantity": {"value": "full", "unit": None}, "conditions": []},
                {"party": "iran", "action": "accept continuous monitoring", "issue": None,
                 "quantity": {"value": True, "unit": None}, "conditions": []},
            ]
        ],
    }  # fmt: skip


def play_deals(
    console: Console,
    mediator: BackchannelClient,
    principals: Sequence[BackchannelClient],
    track: str,
    *,
    deadline: timedelta = timedelta(minutes=10),
    check: Callable[[str, bool, str], None] | None = None,
) -> dict[str, Any]:
    """The demo's deals and commitment, through the SDK (for ``cli/live.py``).

    1. The mediator prepares :func:`example_deal` (``doha-phase-1``); every
       principal reads it, checks the hash against the terms and votes YES; the
       last YES commits it in the same append. Its table is printed.
    2. The mediator prepares :func:`full_relief_deal`; the first principal votes
       YES and the last NO, which aborts it at once: every step is listed as a
       void compensation and nothing took effect. Its table is printed.
    3. The mediator publishes a commitment "next steps agreed" (a fresh salt)
       and reveals it; a reveal with the wrong content is refused first.

    Args:
        console: Where to print.
        mediator: The mediator principal's client.
        principals: Every delegation principal's client (each must vote).
        track: The track, with the agenda ratified (its issues are used).
        deadline: How long each vote stays open.
        check: Called as ``check(what, ok, detail)`` for each outcome (default: print it).

    Returns:
        ``{"committed": <view>, "aborted": <view>, "commitment": <CommitmentSecret>}``.
    """
    report = check or (lambda what, ok, detail: console.print(f"{'ok' if ok else 'FAILED'} {what} {detail}"))
    now = datetime.now(UTC)
    first = example_deal()
    mediator.prepare_deal(track, first, now + deadline)
    for client in principals:
        client.vote_deal(track, str(first["id"]), vote=True)
    committed = mediator.deal(track, str(first["id"]))
    console.print(render_deal(committed))
    report("deal doha-phase-1 committed by every principal's YES", committed["status"] == "committed", "")

    second = full_relief_deal()
    mediator.prepare_deal(track, second, now + deadline)
    *others, last = principals
    for client in others:
        client.vote_deal(track, str(second["id"]), vote=True)
    last.vote_deal(track, str(second["id"]), vote=False)
    aborted = mediator.deal(track, str(second["id"]))
    console.print(render_deal(aborted))
    void = len((aborted.get("outcome") or {}).get("compensations", []))
    report(
        f"deal {second['id']} aborted by {last.member}'s NO and rolled back",
        aborted["status"] == "aborted",
        f"({void} step(s) void)",
    )

    secret = mediator.publish_commitment(track, "next steps agreed", "a second round in Muscat on 12 May")
    console.print(
        f"commitment {secret.commitment_id[:12]} published: SHA-256(salt || content) = {secret.commitment}"
    )
    wrong = CommitmentSecret(
        secret.track, secret.commitment_id, secret.label, secret.salt, "a different text"
    )
    try:
        mediator.reveal_commitment(wrong)
        refusal = "(it was accepted)"
    except ProblemError as e:
        refusal = "" if e.status == 422 and e.type.endswith("/commitment-mismatch") else str(e)
    report("a mismatched reveal is refused", not refusal, refusal)
    revealed = mediator.reveal_commitment(secret)
    report("commitment revealed and verified", not revealed["replayed"], f"({secret.content!r})")
    return {"committed": committed, "aborted": aborted, "commitment": secret}
