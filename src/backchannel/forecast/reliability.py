"""Reliability diagrams (calibration curves) as PNG files, drawn with matplotlib's Agg backend.

Each option of each question is one binary event: the pooled probability of the
option against whether it happened (one-vs-rest), so three-option questions add
three points. Events are grouped into equal-width probability bins; each bin is
drawn at (mean forecast, observed frequency) with its count. This module only
draws; the probabilities come from :mod:`backchannel.forecast.pooling`.
matplotlib is a dependency of backchannel (pinned, Agg backend, no downloads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from backchannel.errors import ConfigurationError, DomainError

__all__ = ["calibration_bins", "write_reliability_png"]

FloatArray = npt.NDArray[np.float64]


def calibration_bins(
    pooled: Sequence[FloatArray], outcomes: Sequence[int], bins: int = 10
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Bin one-vs-rest events: per non-empty bin, the mean forecast, observed frequency and count.

    Raises:
        DomainError: ``bins`` below 1 or mismatched inputs.
    """
    if bins < 1 or len(pooled) != len(outcomes):
        raise DomainError("calibration: need bins >= 1 and one outcome per pooled forecast")
    probs = np.concatenate([np.asarray(p, dtype=np.float64) for p in pooled])
    hits = np.concatenate([np.eye(len(p))[o] for p, o in zip(pooled, outcomes, strict=True)])
    which = np.minimum((probs * bins).astype(np.int64), bins - 1)
    counts = np.bincount(which, minlength=bins)
    full = counts > 0
    mean_p = np.bincount(which, weights=probs, minlength=bins)[full] / counts[full]
    freq = np.bincount(which, weights=hits, minlength=bins)[full] / counts[full]
    return mean_p, freq, counts[full]


def write_reliability_png(
    pooled: Mapping[str, Sequence[FloatArray]], outcomes: Sequence[int], path: Path, *, bins: int = 10
) -> Path:
    """Draw one calibration curve per pooling method into a PNG file.

    Args:
        pooled: ``method -> pooled vector per question``.
        outcomes: The outcome index per question.
        path: Where to write the PNG.
        bins: Equal-width probability bins.

    Returns:
        The path written.

    Raises:
        ConfigurationError: The file cannot be written.
    """
    try:  # heavy: only loaded when a picture is asked for
        import matplotlib as mpl

        mpl.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError as error:  # pragma: no cover - exercised only on a broken install
        raise ConfigurationError("--plot needs matplotlib, a dependency: reinstall backchannel") from error

    figure, axes = plt.subplots(figsize=(5.5, 5.5), dpi=100)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    for name, vectors in pooled.items():
        mean_p, freq, counts = calibration_bins(vectors, outcomes, bins)
        axes.plot(mean_p, freq, marker="o", label=name)
        for x, y, c in zip(mean_p, freq, counts, strict=True):
            axes.annotate(
                str(int(c)), (float(x), float(y)), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="forecast probability", ylabel="observed frequency")
    axes.set_title("Reliability (one point per option; labels: events per bin)", fontsize=9)
    axes.legend(fontsize=8, loc="upper left")
    try:
        figure.savefig(path, format="png")
    except OSError as error:
        raise ConfigurationError(f"--plot: cannot write {path}: {error}") from error
    finally:
        plt.close(figure)
    return path
