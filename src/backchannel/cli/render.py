"""Rich renderings for the CLI: tables, panels, progress and diagnostics.

Pure presentation: every function takes values and returns a Rich renderable.
Nothing here prints a private key (only :meth:`KeyPair.public_dict` is shown).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from backchannel.errors import BackchannelError, VerificationError
from backchannel.log.canonical import JSONValue
from backchannel.log.checkpoint import SignedCheckpoint
from backchannel.protocol.keyfile import KeyPair
from backchannel.sdk import ProblemError
from backchannel.sdk.receipts import ReceiptProof
from backchannel.service.export import VerifiedLog
from backchannel.store.base import TrackInfo

__all__ = [
    "STATUS_STYLE",
    "by",
    "deliveries",
    "diagnostic",
    "escalations",
    "print_checkpoint",
    "print_verification",
    "progress",
    "proof",
    "public_keys",
    "receipts",
    "render_deal",
    "short",
    "summary",
    "tracks",
    "transcript",
]


def diagnostic(error: BackchannelError) -> Panel:
    """An error as a red panel with its diagnostics (and the bad index, if any)."""
    if isinstance(error, ProblemError):
        return _problem(error)
    text = Text(error.diagnostics())
    if isinstance(error, VerificationError) and error.index is not None:
        text.append(f"\nfirst bad index: {error.index}", style="bold")
    return Panel(text, title="error", title_align="left", border_style="red")


def _problem(error: ProblemError) -> Panel:
    """A problem+json answer: status and title, detail, then one line per field-level violation."""
    problem = error.problem
    text = Text(f"{error.status} {problem.get('title', '')}".rstrip(), style="bold")
    if problem.get("detail"):
        text.append(f"\n{problem['detail']}")
    for violation in problem.get("violations") or []:
        if isinstance(violation, Mapping):
            field, rule = str(violation.get("field")), violation.get("rule")
            message = str(violation.get("message"))
            named = message if message.startswith(f"{field}:") else f"{field}: {message}"
            text.append(f"\n  - {named} ({rule})")
    text.append(f"\n{error.type}", style="dim")
    return Panel(text, title="refused by the service", title_align="left", border_style="red")


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


def short(message_id: str) -> str:
    """The first 12 hex digits of a message id (tables only; commands take whole ids)."""
    return message_id[:12]


def _compact(value: JSONValue, limit: int = 70) -> str:
    text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _agenda(get: Callable[[str], Any]) -> str:
    agenda = get("agenda")
    if not isinstance(agenda, Mapping):
        return f"v{get('version')}"
    names = ", ".join(str(issue.get("name")) for issue in agenda.get("issues", []))
    return f"v{agenda.get('version')}: {names}"


def _message(get: Callable[[str], Any]) -> str:
    body = get("body")
    values = body.get("values") if isinstance(body, Mapping) else None
    head = f"{short(str(get('command_digest') or ''))} {get('kind')}/{get('priority')}"
    if get("reframes"):
        head += f" reframes {short(str(get('reframes')))}"
    if get("to_parties"):
        head += " → " + ",".join(get("to_parties"))
    return f"{head}: {_compact(values if values is not None else body, 60)}"


_SUMMARIES: dict[str, Callable[[Callable[[str], Any]], str]] = {
    "track.opened": lambda get: f"title {get('title')!r}",
    "party.admitted": lambda get: f"{get('party')} ({get('kind')}), principal {get('principal')}",
    "member.enrolled": lambda get: f"{get('member')} as {get('role')}",
    "member.key_registered": lambda get: f"{get('member')} (service key)",
    "agenda.proposed": _agenda,
    "agenda.ratified": _agenda,
    "message.submitted": _message,
    "message.reframed": _message,
    "message.forwarded": lambda get: (
        f"{short(str(get('message_id')))} → {','.join(get('to_parties') or [])} (verbatim)"
    ),
    "receipt.recorded": lambda get: (
        f"{len(get('items') or [])} message(s): "
        + ", ".join(f"{short(str(i[0]))} (delivered at {i[1]})" for i in get("items") or [])
    ),
    "message.escalated": lambda get: (
        f"{short(str(get('message_id')))} for {get('party')}: level {get('level')} → "
        + ", ".join(str(m) for m in get("to") or [])
    ),
    "message.dead_lettered": lambda get: (
        f"{short(str(get('message_id')))} for {get('party')}: {get('reason')}"
    ),
}


def summary(event_type: str, body: Mapping[str, Any]) -> str:
    """A one-line summary of an event body (``{"command", "event"}`` or plain) for a table."""
    event = body.get("event", body)
    if not isinstance(event, Mapping):
        event = body
    render = _SUMMARIES.get(event_type)
    return _compact(dict(event)) if render is None else render(event.get)


def body_of(item: Mapping[str, Any]) -> Mapping[str, Any]:
    body = item["signed"]["event"]["body"]
    return body if isinstance(body, Mapping) else {}


def by(item: Mapping[str, Any]) -> str:
    """Who caused an entry: the signer of the command it records, else the entry's author."""
    return str(inner(item).get("by") or item["signed"]["event"]["author"])


def inner(item: Mapping[str, Any]) -> Mapping[str, Any]:
    body = body_of(item)
    inner = body.get("event", body)
    return inner if isinstance(inner, Mapping) else body


def deliveries(items: Sequence[Mapping[str, Any]], title: str = "inbox") -> Table:
    """A table of inbox deliveries: log index, short message id, priority, attempt, sender, summary.

    The whole ids follow the table (``message id: ...`` lines), ready to copy.
    """
    table = Table(title=title, title_justify="left")
    for column in ("index", "message id", "priority", "attempt", "from"):
        table.add_column(column, no_wrap=True)
    table.add_column("summary", overflow="fold")
    for item in items:
        entry = item["entry"]
        event_type = entry["signed"]["event"]["type"]
        table.add_row(
            str(item["log_index"]),
            short(item["message_id"]),
            item["priority"],
            str(item["attempt"]),
            str(item.get("sender") or by(entry)),
            summary(event_type, body_of(entry)),
        )
    return table


def receipts(proofs: Sequence[ReceiptProof], title: str) -> Table:
    """Verified proofs of receipt: party, status, delivery and receipt indexes, signer, verified."""
    table = Table(title=title, title_justify="left")
    for column in ("party", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("delivered at", justify="right")
    table.add_column("receipt log index", justify="right")
    table.add_column("signed by", no_wrap=True)
    table.add_column("verified")
    for proof in proofs:
        table.add_row(
            proof.party,
            proof.status,
            str(proof.delivery_index),
            "-" if proof.log_index is None else str(proof.log_index),
            proof.signer or "-",
            "yes" if proof.settled else "no receipt",
        )
    return table


def transcript(entries: Sequence[Mapping[str, Any]], title: str) -> Table:
    """A table of log entries as ``GET .../events`` returns them: index, type, from, summary."""
    table = Table(title=title, title_justify="left")
    table.add_column("index", justify="right")
    table.add_column("type", no_wrap=True)
    table.add_column("from", no_wrap=True)
    table.add_column("summary", overflow="fold")
    for item in entries:
        event_type = item["signed"]["event"]["type"]
        table.add_row(str(item["index"]), event_type, by(item), summary(event_type, body_of(item)))
    return table


def escalations(entries: Sequence[Mapping[str, Any]], title: str, reader: str | None = None) -> Table:
    """A table of ``message.escalated`` and ``message.dead_lettered`` entries.

    Columns: index, what happened, the message, the recipient party, the level
    (or attempts), and who was alerted (every member an escalation names, one
    per line; ``reader`` is marked "(you)") or why delivery gave up.
    """
    table = Table(title=title, title_justify="left")
    for column in ("index", "what", "message", "for", "level"):
        table.add_column(column, no_wrap=True)
    table.add_column("alerted / reason", overflow="fold")
    for item in entries:
        event = inner(item)
        if item["signed"]["event"]["type"] == "message.escalated":
            what, level = "escalated", str(event.get("level"))
            alerted = [str(m) + (" (you)" if m == reader else "") for m in event.get("to") or []]
            detail = "\n".join(alerted)
        else:
            what, level = "dead-lettered", f"{event.get('attempts')} attempt(s)"
            detail = str(event.get("reason"))
        table.add_row(
            str(item["index"]),
            what,
            short(str(event.get("message_id"))),
            str(event.get("party")),
            level,
            detail,
        )
    return table


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


# --- deals ----------------------------------------------------------------------------------------
STATUS_STYLE = {"drafted": "yellow", "preparing": "cyan", "committed": "bold green", "aborted": "bold red"}


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
        Text.assemble("status: ", (status, STATUS_STYLE.get(status, "")), f"  (revision {view['revision']})"),
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
