"""PNG pictures of negotiations: the utility space, concession curves and tournament heatmaps.

- :func:`plot_utility_space`: every outcome in ``(u_A, u_B)``, the Pareto frontier, the Nash point,
  the reserved values, each side's offer trace and the agreement;
- :func:`plot_concession`: each party's offers over relative time, in its own utility and in the
  other's (a concession curve);
- :func:`plot_tournament`: agreement-rate and mean-welfare heatmaps, agents by opponents, from a
  tournament's Parquet results.

Figures are drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state, no
display), and written to the path given. This module computes no analysis of its own beyond calling
:mod:`~backchannel.negotiation.analysis`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError
from backchannel.negotiation.analysis import nash_point, pareto_frontier
from backchannel.negotiation.protocols import ProtocolResult, as_utilities
from backchannel.negotiation.tournament import summarize

__all__ = ["plot_concession", "plot_tournament", "plot_utility_space"]

_SIDE_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:purple")


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110, bbox_inches="tight")
    return path


def _check_bilateral(
    utilities: NDArray[np.float64], reserved: Sequence[float] | NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    u, r = as_utilities(utilities, reserved)
    if u.shape[1] != 2:
        raise ConfigurationError(f"utilities: the utility-space plot needs 2 parties (got {u.shape[1]})")
    return u, r


def plot_utility_space(  # noqa: PLR0913 - the problem, the run, then labels by keyword
    utilities: NDArray[np.float64],
    reserved: Sequence[float] | NDArray[np.float64],
    path: Path,
    *,
    result: ProtocolResult | None = None,
    labels: tuple[str, str] = ("A", "B"),
    title: str = "Utility space",
) -> Path:
    """Draw the outcome space of a bilateral problem, with a run's offers when given.

    Args:
        utilities: ``(n_outcomes, 2)`` utilities of the two parties.
        reserved: Their reserved values.
        path: Where to write the PNG.
        result: A protocol run to overlay (offers per side, and the agreement).
        labels: The two parties' names.
        title: The figure title.

    Returns:
        ``path``.

    Raises:
        ConfigurationError: If the problem is not bilateral or malformed.
    """
    u, r = _check_bilateral(utilities, reserved)
    fig = Figure(figsize=(6.4, 6.0))
    ax = fig.add_subplot()
    ax.scatter(u[:, 0], u[:, 1], s=4, color="0.8", label="outcomes", zorder=1)
    front = pareto_frontier(u)
    front = front[np.argsort(u[front, 0])]
    ax.plot(u[front, 0], u[front, 1], "-o", color="black", ms=3, lw=1.2, label="Pareto frontier", zorder=3)
    ax.axvline(r[0], color="0.5", ls="--", lw=0.8)
    ax.axhline(r[1], color="0.5", ls="--", lw=0.8, label="reserved values")
    if result is not None:
        _overlay_run(ax, u, result, labels)
    nash = nash_point(u, r)
    if nash is not None:
        ax.scatter(
            u[nash, 0],
            u[nash, 1],
            marker="*",
            s=260,
            color="gold",
            edgecolor="black",
            label="Nash point",
            zorder=6,
        )
    ax.set(xlabel=f"utility of {labels[0]}", ylabel=f"utility of {labels[1]}", title=title)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.set_aspect("equal", adjustable="datalim")
    return _save(fig, path)


def _overlay_run(ax: Axes, u: NDArray[np.float64], result: ProtocolResult, labels: tuple[str, str]) -> None:
    for side in (0, 1):
        offers = result.offers_by(side)
        if offers:
            xs, ys = u[offers, 0], u[offers, 1]
            colour = _SIDE_COLOURS[side]
            ax.plot(xs, ys, "-", color=colour, lw=0.8, alpha=0.6, zorder=4)
            label = f"offers of {labels[side]} ({len(offers)}, {len(set(offers))} distinct)"
            ax.scatter(xs, ys, s=22, color=colour, alpha=0.7, label=label, zorder=5 - side)
    if result.agreement is not None:
        x, y = u[result.agreement]
        label = f"agreement (round {result.rounds})"
        ax.scatter(x, y, marker="o", s=420, facecolor="none", edgecolor="red", lw=2, label=label, zorder=8)


def plot_concession(
    utilities: NDArray[np.float64],
    result: ProtocolResult,
    path: Path,
    *,
    labels: Sequence[str] | None = None,
    title: str = "Concession over time",
) -> Path:
    """Draw each party's offers over relative time (solid: its own utility; dotted: the others').

    Args:
        utilities: ``(n_outcomes, n_parties)``.
        result: An alternating-offers run.
        path: Where to write the PNG.
        labels: The parties' names (``P0``, ``P1``, ... by default).
        title: The figure title.

    Returns:
        ``path``.

    Raises:
        ConfigurationError: If the run holds no offers or the labels do not match the parties.
    """
    u = np.asarray(utilities, dtype=np.float64)
    n = u.shape[1]
    names = list(labels) if labels is not None else [f"P{p}" for p in range(n)]
    if len(names) != n:
        raise ConfigurationError(f"labels: need one per party ({n}), got {len(names)}")
    offers = [s for s in result.trace if s.action == "offer" and s.outcome is not None]
    if not offers:
        raise ConfigurationError("result: the run holds no offers to plot")
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.add_subplot()
    for p in range(n):
        mine = [s for s in offers if s.actor == p]
        if not mine:
            continue
        t = [s.t for s in mine]
        idx = [s.outcome for s in mine if s.outcome is not None]
        colour = _SIDE_COLOURS[p % len(_SIDE_COLOURS)]
        ax.plot(t, u[idx, p], "-", color=colour, lw=1.6, label=f"{names[p]}'s offers, own utility")
        for q in range(n):
            if q != p:
                ax.plot(
                    t,
                    u[idx, q],
                    ":",
                    color=colour,
                    lw=1.2,
                    label=f"{names[p]}'s offers, utility of {names[q]}",
                )
    if result.agreement is not None:
        label = f"agreement (round {result.rounds})"
        ax.axvline(result.trace[-1].t, color="red", lw=0.8, ls="--", label=label)
    ax.set(
        xlabel="relative time t",
        ylabel="utility",
        title=title,
        xlim=(0, min(1.0, 1.05 * max(s.t for s in result.trace))),
    )
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _heatmap(ax: Axes, grid: NDArray[np.float64], rows: list[str], cols: list[str], title: str) -> None:
    image = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set(title=title, xlabel="opponent (party B)", ylabel="agent (party A)")
    finite = grid[np.isfinite(grid)]
    middle = float(finite.mean()) if finite.size else 0.0
    for (i, j), value in np.ndenumerate(grid):
        text = "n/a" if np.isnan(value) else f"{value:.2f}"
        ax.text(
            j, i, text, ha="center", va="center", fontsize=8, color="black" if value > middle else "white"
        )
    figure = ax.get_figure()
    assert isinstance(figure, Figure)
    figure.colorbar(image, ax=ax, shrink=0.8)


def plot_tournament(table: pa.Table, path: Path, *, title: str = "Tournament") -> Path:
    """Draw agreement-rate and mean-welfare heatmaps (agents by opponents) from tournament results.

    Args:
        table: Rows as written by :func:`~backchannel.negotiation.tournament.run_tournament`.
        path: Where to write the PNG.
        title: The figure title.

    Returns:
        ``path``.

    Raises:
        ConfigurationError: If the table is empty.
    """
    if table.num_rows == 0:
        raise ConfigurationError("table: no tournament results to plot")
    summary = summarize(table)
    agents = sorted({s["agent"] for s in summary})
    opponents = sorted({s["opponent"] for s in summary})
    grids = {
        key: np.full((len(agents), len(opponents)), np.nan) for key in ("agreement_rate", "mean_welfare")
    }
    for s in summary:
        cell = (agents.index(s["agent"]), opponents.index(s["opponent"]))
        for key, grid in grids.items():
            grid[cell] = _number(s[key])
    width = 4.0 + 1.2 * len(opponents)
    fig = Figure(figsize=(2 * width, 1.5 + 0.6 * len(agents) + 1.5))
    left, right = fig.subplots(1, 2)
    _heatmap(left, grids["agreement_rate"], agents, opponents, "agreement rate")
    _heatmap(right, grids["mean_welfare"], agents, opponents, "mean welfare (u_A + u_B)")
    fig.suptitle(f"{title}: {table.num_rows} runs")
    return _save(fig, path)


def _number(value: Any) -> float:  # noqa: ANN401 - a summary cell: float or None
    return float("nan") if value is None else float(value)
