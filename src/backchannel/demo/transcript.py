"""The demo's transcript table: one line per entry, the agreements' events summarised, attestations grouped.

:func:`transcript` renders what ``GET .../events`` returns like
:func:`backchannel.cli.render.transcript`, and in addition:

- summarises the events of issue #4 (texts, deals, commitments, metrics,
  attestations, escrows, obligations) in words instead of their JSON;
- shows each run of consecutive attestation entries caused by one member
  (a back-filled batch: up to one ``attestation.filed`` and one
  ``attestation.quorum_reached`` per day) as one row with the index range,
  the count of each type, the metric, its values and the days covered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rich.table import Table

from backchannel.cli import render
from backchannel.cli.render import by as _by
from backchannel.cli.render import inner as _inner

__all__ = ["summary", "transcript"]

_Get = Callable[[str], Any]
_MIN_RUN = 3


def _digest(value: object) -> str:
    return str(value or "")[:12]


def _source(value: object) -> str:
    """A consumption's source: an attestation id (64 hex digits) shortened like a message id."""
    text = str(value or "-")
    return text[:12] if len(text) == 64 and all(c in "0123456789abcdef" for c in text) else text


def _quantity(quantity: Any) -> str:  # noqa: ANN401 - a JSON quantity {"value", "unit"}
    if not isinstance(quantity, Mapping):
        return str(quantity)
    unit = quantity.get("unit")
    return str(quantity.get("value")) + ("" if unit is None else f" {unit}")


def _deal_prepared(get: _Get) -> str:
    deal = get("deal") or {}
    steps = [f"{s.get('party')} {s.get('action')} {_quantity(s.get('quantity'))}"
             for phase in deal.get("phases", []) for s in phase]  # fmt: skip
    return f"{deal.get('id')} {deal.get('title')!r}: " + "; ".join(steps)


def _escrow_opened(get: _Get) -> str:
    terms = get("terms") or {}
    items = ", ".join(
        f"{i.get('amount'):,} {i.get('unit')} {i.get('what')} {i.get('owner')} -> {i.get('beneficiary')}"
        for i in terms.get("items", [])
    )
    condition = f"{terms.get('threshold')} of ({', '.join(terms.get('signers', []))})"
    predicates = " AND ".join(terms.get("predicates", []))
    return f"{terms.get('escrow_id')}: {items}; {condition}" + (f" AND {predicates}" if predicates else "")


_SUMMARIES: dict[str, Callable[[_Get], str]] = {
    "text.drafted": lambda get: f"{get('doc')} v1 {get('title')!r} (sha256 {_digest(get('text_digest'))})",
    "text.edited": lambda get: (
        f"{get('doc')} v{get('version')} based on v{get('base_version')} "
        f"(sha256 {_digest(get('text_digest'))})"
    ),
    "text.commented": lambda get: f"on {get('doc')} v{get('version')}, to the mediator: {get('text')!r}",
    "text.policy_set": lambda get: f"policy {get('policy')}",
    "deal.drafted": _deal_prepared,
    "deal.prepared": _deal_prepared,
    "deal.voted": lambda get: (
        f"{get('deal_id')}: {str(get('vote')).upper()} on hash {_digest(get('deal_hash'))}"
    ),
    "deal.committed": lambda get: (
        f"{get('deal_id')} committed (hash {_digest(get('deal_hash'))}), "
        f"voters {', '.join(get('voters') or [])}"
    ),
    "deal.aborted": lambda get: (
        f"{get('deal_id')} aborted: {get('detail')}; {len(get('compensations') or [])} step(s) void"
    ),
    "commitment.published": lambda get: (
        f"{get('label')!r}: SHA-256(salt || content) {_digest(get('commitment'))}"
    ),
    "commitment.revealed": lambda get: f"{_digest(get('commitment_id'))}: {get('content')!r}",
    "metric.defined": lambda get: (
        f"{get('metric')} ({get('unit')}) for issue {get('issue')}: quorum {get('quorum')} of "
        f"({', '.join(get('inspectors') or [])}), tolerance {get('tolerance')}"
    ),
    "escrow.opened": _escrow_opened,
    "escrow.release_signed": lambda get: (
        f"{get('escrow_id')}: {get('party')} signs digest {_digest(get('escrow_digest'))}"
    ),
    "escrow.released": lambda get: f"{get('escrow_id')}: {get('reason')}",
    "attestation.filed": lambda get: (
        f"{get('metric')} {get('value')} {get('unit')} at {get('site')}, day {str(get('window_start'))[:10]}"
    ),
    "attestation.quorum_reached": lambda get: (
        f"{get('metric')} {get('value')} {get('unit')}: quorum of ({', '.join(get('parties') or [])}), "
        f"day {str(get('window_start'))[:10]}"
    ),
    "obligation.defined": lambda get: (
        f"{get('obligation')}: {get('party')}, {get('metric')} {get('rate')} {get('unit')} per "
        f"{get('period_seconds')} s, burst {get('burst')} {get('unit')}; {' -> '.join(get('ladder') or [])}"
    ),
    "obligation.metered": lambda get: (
        f"{get('obligation')}: {get('amount')} {get('unit')} (source {_source(get('source'))}), tokens "
        f"{get('available')} -> {get('tokens')}; level {get('level')} ({get('tier')})"
    ),
    "obligation.escalated": lambda get: (
        f"{get('obligation')}: level {get('from_level')} -> {get('to_level')} ({get('tier')}), "
        f"overdraw {get('overdraw')} (source {_source(get('source'))})"
    ),
    "obligation.deescalated": lambda get: (
        f"{get('obligation')}: level {get('from_level')} -> {get('to_level')} ({get('tier')}), "
        f"within limits since {get('held_since')}"
    ),
}


def summary(item: Mapping[str, Any]) -> str:
    """A one-line summary of one entry (the agreements' events in words, the rest as ``render`` does)."""
    event_type = str(item["signed"]["event"]["type"])
    found = _SUMMARIES.get(event_type)
    if found is None:
        return render.summary(event_type, render.body_of(item))
    return found(_inner(item).get)


def _attestation(item: Mapping[str, Any]) -> bool:
    return str(item["signed"]["event"]["type"]).startswith("attestation.")


def _runs(entries: Sequence[Mapping[str, Any]]) -> list[list[Mapping[str, Any]]]:
    runs: list[list[Mapping[str, Any]]] = []
    for item in entries:
        last = runs[-1] if runs else None
        if last is not None and _attestation(item) and _attestation(last[0]) and _by(item) == _by(last[0]):
            last.append(item)
        else:
            runs.append([item])
    return runs


def _grouped(run: Sequence[Mapping[str, Any]]) -> tuple[str, str, str]:
    counts = Counter(str(i["signed"]["event"]["type"]) for i in run)
    types = "\n".join(f"{t} ({n})" for t, n in counts.items())
    bodies = [_inner(i) for i in run]
    metrics = sorted({str(b.get("metric")) for b in bodies})
    values = sorted({float(b.get("value") or 0) for b in bodies})
    units = sorted({str(b.get("unit")) for b in bodies})
    sites = sorted({str(b.get("site")) for b in bodies})
    days = sorted(str(b.get("window_start"))[:10] for b in bodies)
    shown = ", ".join(f"{v:g}" for v in values)
    text = (
        f"{', '.join(metrics)} {shown} {', '.join(units)} at {', '.join(sites)}, days {days[0]} … {days[-1]}"
    )
    return f"{run[0]['index']}-{run[-1]['index']}", types, text


def transcript(entries: Sequence[Mapping[str, Any]], title: str) -> Table:
    """A table of log entries as ``GET .../events`` returns them: index, type, from, summary."""
    table = Table(title=title, title_justify="left")
    table.add_column("index", justify="right", no_wrap=True)
    table.add_column("type", overflow="fold")  # on a narrow terminal, the summary keeps some room
    table.add_column("from", overflow="fold")
    table.add_column("summary", overflow="fold")
    for run in _runs(entries):
        if len(run) >= _MIN_RUN:
            index, types, text = _grouped(run)
            table.add_row(index, types, _by(run[0]), text)
            continue
        for item in run:
            table.add_row(str(item["index"]), str(item["signed"]["event"]["type"]), _by(item), summary(item))
    return table
