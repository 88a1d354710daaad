"""The language aid's analysis as the mediator's relay and reframe commands show it (ADR-0045).

:func:`render_analysis` draws the document of ``POST .../language/check``
(escalation verdict and codes, suggestions, drift and blocked number changes)
with Rich; :func:`blocked_numbers` lists the number changes that make
``reframe`` refuse to send without ``--force``. The commands themselves are in
:mod:`backchannel.cli.messages`; nothing here sends anything, and a
suggestion is never sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

__all__ = ["blocked_numbers", "render_analysis"]


def blocked_numbers(document: Mapping[str, Any]) -> list[str]:
    """The number changes of the checked reframing (empty when none, or when no reframing was checked)."""
    drift = document.get("drift")
    if not isinstance(drift, Mapping) or not drift.get("blocked"):
        return []
    return [str(d) for d in drift.get("number_differences", [])] or ["the numbers differ"]


def _verdict(document: Mapping[str, Any]) -> Panel:
    escalatory = bool(document.get("escalatory"))
    colour = "red" if escalatory else "green"
    title = "ESCALATORY" if escalatory else "not escalatory"
    goldstein = document.get("goldstein")
    weight = "" if goldstein is None else f" (most conflictual Goldstein weight {goldstein:+.1f})"
    body = Text(f"{document.get('reason') or 'no escalation pattern matched'}{weight}")
    return Panel(body, title=f"[{colour}]language check: {title}[/{colour}]", expand=False)


def _codes(document: Mapping[str, Any]) -> Table:
    table = Table(title="escalation codes", title_justify="left")
    for column in ("code", "Goldstein", "matched"):
        table.add_column(column)
    for code in document.get("codes", []):
        table.add_row(str(code.get("code")), f"{code.get('goldstein', 0):+.1f}", str(code.get("match")))
    return table


def _suggestions(document: Mapping[str, Any]) -> Table:
    table = Table(title="suggested reframings (never sent automatically)", title_justify="left")
    for column in ("suggestion", "still escalatory", "numbers kept", "commitment flips"):
        table.add_column(column)
    for item in document.get("suggestions", []):
        flips = "; ".join(item.get("commitment_flips", [])) or "-"
        table.add_row(
            str(item.get("text")), str(item.get("escalatory")), str(item.get("numbers_same")), flips
        )
    return table


def _drift(drift: Mapping[str, Any]) -> Panel:
    lines = [
        f"similarity {drift.get('similarity')} ({drift.get('method')}, threshold {drift.get('threshold')})"
    ]
    lines += [str(r) for r in drift.get("reasons", [])]
    colour = "red" if drift.get("blocked") else ("yellow" if drift.get("flagged") else "green")
    label = "BLOCKED" if drift.get("blocked") else ("flagged" if drift.get("flagged") else "ok")
    return Panel(Text("\n".join(lines)), title=f"[{colour}]drift: {label}[/{colour}]", expand=False)


def render_analysis(document: Mapping[str, Any]) -> Group:
    """The analysis for people: verdict, codes, suggestions and (for a reframing) drift."""
    parts: list[Any] = [_verdict(document)]
    if document.get("codes"):
        parts.append(_codes(document))
    if document.get("suggestions"):
        parts.append(_suggestions(document))
    drift = document.get("drift")
    if isinstance(drift, Mapping):
        parts.append(_drift(drift))
    return Group(*parts)
