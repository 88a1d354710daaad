"""The timeline of one run as a self-contained HTML page (inline SVG, no script, no CDN).

One lane per party (and one for the network's faults and one for the deals);
each row of :attr:`RunResult.timeline <backchannel.sim.result.RunResult.timeline>`
is a mark at its virtual time, coloured by kind (commands, messages, relays,
receipts, faults, escalations, deal states, waits and takeovers), with its text
as a tooltip. Below the chart: the seed, the schedule, the SLO figures and the
invariants' verdict.

This module only renders; it runs nothing.
"""

from __future__ import annotations

from html import escape

from backchannel.sim.result import RunResult

__all__ = ["COLOURS", "timeline_html"]

COLOURS = {
    "command": "#9aa5b1",
    "message": "#2f6fde",
    "relay": "#7b3fd1",
    "receipt": "#1f9d55",
    "fault": "#d64545",
    "refused": "#d64545",
    "escalation": "#e8890c",
    "dead letter": "#8b0000",
    "silent": "#e8890c",
    "takeover": "#0f9fa8",
    "waits": "#c4a000",
    "back": "#0f9fa8",
    "key revoked": "#8b0000",
    "prepared": "#555555",
    "voted": "#555555",
    "committed": "#1f9d55",
    "aborted": "#d64545",
}
"""Kind -> mark colour (anything else is grey)."""

_LANE = 34
_LEFT = 110
_WIDTH = 1000


def _lanes(result: RunResult) -> list[str]:
    lanes = ["network"]
    for _, lane, _, _ in sorted(result.timeline, key=lambda row: row[0]):
        if lane not in lanes and lane != "deals":
            lanes.append(lane)
    return [*lanes, "deals"]


def _svg(result: RunResult) -> str:
    lanes = _lanes(result)
    end = max([result.virtual_seconds, *(row[0] for row in result.timeline), 1.0])
    height = _LANE * len(lanes) + 30

    def x(at: float) -> float:
        return _LEFT + (_WIDTH - _LEFT - 10) * max(0.0, at) / end

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}" height="{height}" font-size="12">']
    for i, lane in enumerate(lanes):
        y = 20 + i * _LANE
        parts.append(f'<text x="4" y="{y + 4}">{escape(lane)}</text>')
        parts.append(f'<line x1="{_LEFT}" y1="{y}" x2="{_WIDTH - 10}" y2="{y}" stroke="#ddd"/>')
    for tick in range(6):
        at = end * tick / 5
        parts.append(f'<text x="{x(at):.1f}" y="{height - 4}" text-anchor="middle">{at:.0f} s</text>')
    for at, lane, kind, text in result.timeline:
        y = 20 + lanes.index(lane if lane in lanes else "network") * _LANE
        colour = COLOURS.get(kind, "#777777")
        tip = escape(f"t={at:.1f}s {kind}: {text}")
        parts.append(
            f'<circle cx="{x(at):.1f}" cy="{y}" r="5" fill="{colour}" fill-opacity="0.8">'
            f"<title>{tip}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _list(title: str, items: list[str]) -> str:
    rows = "".join(f"<li>{escape(item)}</li>" for item in items) or "<li>none</li>"
    return f"<h2>{escape(title)}</h2><ul>{rows}</ul>"


def timeline_html(result: RunResult, *, reproduce: str = "") -> str:
    """The run's timeline page (self-contained HTML)."""
    verdict = (
        "all invariants hold" if not result.violations else f"{len(result.violations)} invariant(s) broken"
    )
    legend = " ".join(
        f'<span style="color:{colour}">&#9679; {escape(kind)}</span>' for kind, colour in COLOURS.items()
    )
    slo = [
        *(
            f"ack {p}: {', '.join(f'{v:g}' for v in values)} s"
            for p, values in sorted(result.latencies.items())
        ),
        f"detect silent: {', '.join(f'{v:g}' for v in result.detect_silent) or '-'} s",
        f"escalate: {', '.join(f'{v:g}' for v in result.escalate) or '-'} s",
        *(f"missed: {miss}" for miss in result.slo_misses),
    ]
    return "\n".join([
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(result.scenario)}, seed {result.seed}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}li{font-family:monospace}</style>",
        "</head><body>",
        f"<h1>{escape(result.scenario)}, seed {result.seed}: {escape(verdict)}</h1>",
        f"<p>{result.commands} commands, log size {result.size}, {result.virtual_seconds:.0f} s virtual</p>",
        f"<p>final root <code>{escape(result.root)}</code></p>",
        f"<p>{escape(reproduce)}</p>" if reproduce else "",
        f"<p>{legend}</p>",
        _svg(result),
        _list("Invariants broken", result.violations),
        _list("Fault schedule", [f.describe() for f in result.faults]),
        _list("SLO figures (virtual seconds)", slo),
        _list("Takeovers and waits", [*result.takeovers, *result.waits]),
        _list("Checks", [*result.checks, *result.attacks]),
        _list("Refused", result.refused),
        "</body></html>",
    ])  # fmt: skip
