"""Inline SVG for the console: the wait-for graph (its deadlock cycle in red) and the obligation ladder.

Plain strings, escaped; no script, no external asset. This module reads no service.
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from typing import Any

from backchannel.api.console.model import Graph

__all__ = ["graph_svg", "ladder_svg"]

_W, _H = 720, 420
_DEFS = "".join(
    f'<marker id="{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
    f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    for name, colour in (("arrow", "#555"), ("arrow-red", "#c0392b"))
)
_DEFS = f"<defs>{_DEFS}</defs>"


def _short(text: str, limit: int = 28) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def graph_svg(graph: Graph) -> str:
    """The wait-for graph on a circle; an edge on a deadlock cycle has class ``edge cycle``."""
    nodes: list[str] = []
    for waiter, holder, _, _ in graph.edges:
        for node in (waiter, holder):
            if node not in nodes:
                nodes.append(node)
    if not nodes:
        return '<p class="empty">No waits: the wait-for graph is empty.</p>'
    cx, cy, r = _W / 2, _H / 2, min(_W, _H) / 2 - 60
    at = {
        n: (cx + r * math.cos(2 * math.pi * i / len(nodes) - math.pi / 2),
            cy + r * math.sin(2 * math.pi * i / len(nodes) - math.pi / 2))
        for i, n in enumerate(nodes)
    }  # fmt: skip
    on_cycle = {n for edge in graph.cycle_edges for n in edge}
    parts = [
        f'<svg class="graph" viewBox="0 0 {_W} {_H}" role="img" aria-label="wait-for graph">',
        _DEFS,
    ]
    for waiter, holder, kind, reason in graph.edges:
        (x1, y1), (x2, y2) = at[waiter], at[holder]
        length = math.hypot(x2 - x1, y2 - y1) or 1.0
        ux, uy = (x2 - x1) / length, (y2 - y1) / length
        # stop short of each node's circle; bend to the left, so a wait and its reverse stay apart
        sx, sy, ex, ey = x1 + ux * 26, y1 + uy * 26, x2 - ux * 26, y2 - uy * 26
        mx, my = (sx + ex) / 2 - uy * 40, (sy + ey) / 2 + ux * 40
        cycle = (waiter, holder) in graph.cycle_edges
        css = "edge cycle" if cycle else "edge"
        marker = "arrow-red" if cycle else "arrow"
        title = escape(f"{waiter} waits on {holder} ({kind}: {reason})")
        parts.append(
            f'<path class="{css}" data-waiter="{escape(waiter)}" data-holder="{escape(holder)}" '
            f'd="M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}" marker-end="url(#{marker})">'
            f"<title>{title}</title></path>"
        )
    for node in nodes:
        x, y = at[node]
        css = "node deadlocked" if node in on_cycle else "node"
        parts.append(
            f'<g class="{css}" data-node="{escape(node)}"><circle cx="{x:.1f}" cy="{y:.1f}" r="24"/>'
            f'<text x="{x:.1f}" y="{y + 40:.1f}" text-anchor="middle">{escape(_short(node))}</text>'
            f"<title>{escape(node)}</title></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def ladder_svg(obligation: dict[str, Any], now: datetime) -> str:
    """An obligation's level over time, a step line from its definition to ``now``, tiers on the left."""
    ladder = [str(t) for t in obligation.get("ladder", [])] or ["level 0"]
    start = datetime.fromisoformat(str(obligation["defined_at"]))
    points: list[tuple[datetime, int]] = [(start, 0)]
    points += [
        (datetime.fromisoformat(str(step["effective_at"])), int(step["to_level"]))
        for step in obligation.get("history", [])
    ]
    end = max(now, points[-1][0])
    span = max((end - start).total_seconds(), 1.0)
    w, h, left, top = 520, 40 + 28 * len(ladder), 150, 16
    inner_w, inner_h = w - left - 20, h - top - 30
    step_h = inner_h / max(len(ladder) - 1, 1)

    def xy(t: datetime, level: int) -> tuple[float, float]:
        x = left + inner_w * (t - start).total_seconds() / span
        return x, top + inner_h - step_h * level

    path: list[str] = []
    for i, (t, level) in enumerate(points):
        x, y = xy(t, level)
        if i == 0:
            path.append(f"M{x:.1f},{y:.1f}")
        else:
            path.append(f"H{x:.1f} V{y:.1f}")
    path.append(f"H{xy(end, points[-1][1])[0]:.1f}")
    label = escape(str(obligation.get("obligation", "")))
    parts = [
        f'<svg class="ladder" viewBox="0 0 {w} {h}" role="img" aria-label="obligation ladder of {label}">'
    ]
    for level, tier in enumerate(ladder):
        _, y = xy(start, level)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{w - 20}" y2="{y:.1f}"/>'
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(_short(tier, 20))}</text>'
        )
    parts.append(f'<path class="level" d="{" ".join(path)}"/>')
    x, y = xy(end, points[-1][1])
    parts.append(f'<circle class="now" cx="{x:.1f}" cy="{y:.1f}" r="4"/>')
    parts.append(
        f'<text x="{left}" y="{h - 8}" class="axis">{escape(start.strftime("%Y-%m-%d %H:%M"))}</text>'
        f'<text x="{w - 20}" y="{h - 8}" class="axis" text-anchor="end">now</text></svg>'
    )
    return "".join(parts)
