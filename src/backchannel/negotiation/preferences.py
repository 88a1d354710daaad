"""A party's preferences: linear additive utilities over an outcome space, and their reserved value.

``u(o) = sum_k weights[k] * v_k(o[k])`` in float64, issues summed in declared order (the scenario
format's ``utility_model.formula``), where each ``v_k`` is a value function of issue ``k``:

- :class:`TableValue`: one number per value position (what the scenario format uses);
- :class:`LinearValue`: 0 at ``worst``, 1 at ``best``, linear in between, clipped to [0, 1];
- :class:`TriangularValue`: 1 at ``peak``, falling linearly to 0 at ``low`` and ``high``;
- :class:`StepValue`: ``levels[j]`` where ``j`` is how many ``thresholds`` are <= the value.

The weights must sum to 1 (within :data:`WEIGHT_TOLERANCE`). The reserved value is what the party gets
without an agreement; ``discount`` (``delta`` in (0, 1]) multiplies utilities by ``delta ** t`` at
relative time ``t``.

:meth:`LinearAdditivePreferences.utilities` is the contract the engines, analysis and agents rely on:
one float64 array per party indexed by outcome index, plus a float reserved value.

Uncertainty, elicitation by points and privacy live in :mod:`backchannel.negotiation.private`.

This module draws no randomness of its own and plays no negotiation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from backchannel.errors import ConfigurationError
from backchannel.negotiation.space import DiscreteIssue, OutcomeSpace

__all__ = [
    "WEIGHT_TOLERANCE",
    "LinearAdditivePreferences",
    "LinearValue",
    "StepValue",
    "TableValue",
    "TriangularValue",
    "ValueFunction",
    "check_weights",
]

WEIGHT_TOLERANCE = 1e-6
"""How far the sum of the weights may be from 1."""


def _numbers(issue: DiscreteIssue, path: str) -> NDArray[np.float64]:
    if not issue.numeric:
        raise ConfigurationError(f"{path}: issue {issue.name!r} has non-numeric values; use a table")
    return np.array([float(v) for v in issue.values], dtype=np.float64)


@dataclass(frozen=True, slots=True)
class TableValue:
    """One value per value position of the issue (``values[j]`` for position ``j``)."""

    values: tuple[float, ...]

    def table(self, issue: DiscreteIssue, path: str = "value_function") -> NDArray[np.float64]:
        """The value of each of ``issue``'s values, by position.

        Raises:
            ConfigurationError: The table's length differs from the issue's, or holds a non-finite number.
        """
        if len(self.values) != len(issue.values):
            raise ConfigurationError(
                f"{path}: {len(self.values)} values for issue {issue.name!r}, which has {len(issue.values)}"
            )
        table = np.array(self.values, dtype=np.float64)
        if not np.isfinite(table).all():
            raise ConfigurationError(f"{path}: every value must be finite")
        return table


@dataclass(frozen=True, slots=True)
class LinearValue:
    """0 at ``worst``, 1 at ``best``, linear in between and clipped to [0, 1] (``best < worst`` decreases)."""

    worst: float
    best: float

    def table(self, issue: DiscreteIssue, path: str = "value_function") -> NDArray[np.float64]:
        """The value of each of ``issue``'s (numeric) values.

        Raises:
            ConfigurationError: ``worst == best`` or the issue is not numeric.
        """
        if self.worst == self.best:
            raise ConfigurationError(f"{path}: worst and best must differ (both {self.worst})")
        x = _numbers(issue, path)
        return np.clip((x - self.worst) / (self.best - self.worst), 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class TriangularValue:
    """1 at ``peak``, linearly down to 0 at ``low`` and at ``high``, 0 outside."""

    low: float
    peak: float
    high: float

    def table(self, issue: DiscreteIssue, path: str = "value_function") -> NDArray[np.float64]:
        """The value of each of ``issue``'s (numeric) values.

        Raises:
            ConfigurationError: Not ``low <= peak <= high`` with ``low < high``, or a non-numeric issue.
        """
        if not (self.low <= self.peak <= self.high and self.low < self.high):
            raise ConfigurationError(f"{path}: need low <= peak <= high and low < high")
        x = _numbers(issue, path)
        rise = (x - self.low) / (self.peak - self.low) if self.peak > self.low else np.ones_like(x)
        fall = (self.high - x) / (self.high - self.peak) if self.high > self.peak else np.ones_like(x)
        values = np.where(x <= self.peak, rise, fall)
        return np.where((x < self.low) | (x > self.high), 0.0, np.clip(values, 0.0, 1.0))


@dataclass(frozen=True, slots=True)
class StepValue:
    """``levels[j]`` where ``j`` is the number of ``thresholds`` at or below the value."""

    thresholds: tuple[float, ...]
    levels: tuple[float, ...]

    def table(self, issue: DiscreteIssue, path: str = "value_function") -> NDArray[np.float64]:
        """The value of each of ``issue``'s (numeric) values.

        Raises:
            ConfigurationError: Thresholds not increasing, ``len(levels) != len(thresholds) + 1``, or a
                non-numeric issue.
        """
        if len(self.levels) != len(self.thresholds) + 1:
            raise ConfigurationError(f"{path}.levels: need exactly one more level than thresholds")
        if any(b <= a for a, b in zip(self.thresholds, self.thresholds[1:], strict=False)):
            raise ConfigurationError(f"{path}.thresholds: must be strictly increasing")
        x = _numbers(issue, path)
        steps = np.searchsorted(np.array(self.thresholds, dtype=np.float64), x, side="right")
        return np.array(self.levels, dtype=np.float64)[steps]


ValueFunction: TypeAlias = TableValue | LinearValue | TriangularValue | StepValue
"""Any per-issue value function."""


def check_weights(weights: Sequence[float], path: str = "weights") -> tuple[float, ...]:
    """Validate issue weights: finite, non-negative, summing to 1 within :data:`WEIGHT_TOLERANCE`.

    Returns:
        The weights as floats.

    Raises:
        ConfigurationError: Naming ``path`` and the rule broken.
    """
    values = tuple(float(w) for w in weights)
    if not values:
        raise ConfigurationError(f"{path}: need one weight per issue (got none)")
    for k, w in enumerate(values):
        if not math.isfinite(w) or w < 0:
            raise ConfigurationError(f"{path}[{k}]: must be a finite number >= 0 (got {w})")
    total = math.fsum(values)
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ConfigurationError(f"{path}: must sum to 1 (got {total:.6g})")
    return values


@dataclass(frozen=True, slots=True)
class LinearAdditivePreferences:
    """Linear additive utilities with a reserved value and time discounting.

    Attributes:
        weights: One weight per issue, summing to 1.
        value_functions: One value function per issue.
        reserved_value: The utility of no agreement.
        discount: ``delta`` in (0, 1]; utility at relative time ``t`` is ``u * delta ** t``.
    """

    weights: tuple[float, ...]
    value_functions: tuple[ValueFunction, ...]
    reserved_value: float
    discount: float = 1.0

    def __post_init__(self) -> None:
        """Validate weights, the number of value functions, the reserved value and the discount."""
        check_weights(self.weights)
        if len(self.value_functions) != len(self.weights):
            raise ConfigurationError(
                f"value_functions: {len(self.value_functions)} given for {len(self.weights)} weights"
            )
        if not math.isfinite(self.reserved_value):
            raise ConfigurationError(f"reserved_value: must be finite (got {self.reserved_value})")
        if not 0 < self.discount <= 1:
            raise ConfigurationError(f"discount: must be in (0, 1] (got {self.discount})")

    @classmethod
    def from_tables(
        cls, weights: Sequence[float], tables: Sequence[Sequence[float]], reserved_value: float
    ) -> LinearAdditivePreferences:
        """Preferences with a :class:`TableValue` per issue (the scenario format's form)."""
        return cls(
            tuple(float(w) for w in weights),
            tuple(TableValue(tuple(float(v) for v in t)) for t in tables),
            float(reserved_value),
        )

    def tables(self, space: OutcomeSpace) -> list[NDArray[np.float64]]:
        """Each issue's value table over ``space``'s values, by position.

        Raises:
            ConfigurationError: The number of issues differs, or a value function does not fit its issue.
        """
        if len(space.issues) != len(self.weights):
            raise ConfigurationError(f"weights: {len(self.weights)} weights for {len(space.issues)} issues")
        return [
            function.table(issue, f"value_functions[{k}]")
            for k, (function, issue) in enumerate(zip(self.value_functions, space.issues, strict=True))
        ]

    def utilities(self, space: OutcomeSpace) -> NDArray[np.float64]:
        """The utility of every outcome of ``space``, by outcome index.

        Computed as ``sum_k weights[k] * table_k[position_k]`` in float64, issues added in order
        ``k = 0, 1, ...`` (so the result is bit-for-bit the scenario format's formula).

        Returns:
            A 1-D float64 array of length ``space.n_outcomes``.

        Raises:
            ConfigurationError: The preferences do not fit the space.
        """
        positions = space.values_matrix()
        total = np.zeros(space.n_outcomes, dtype=np.float64)
        for k, table in enumerate(self.tables(space)):
            total = total + self.weights[k] * table[positions[:, k]]
        return total

    def discounted(self, utilities: NDArray[np.float64], t: float) -> NDArray[np.float64]:
        """Utilities at relative time ``t`` in [0, 1]: ``utilities * discount ** t``.

        Raises:
            ConfigurationError: ``t`` outside [0, 1].
        """
        if not 0 <= t <= 1:
            raise ConfigurationError(f"t: relative time must be in [0, 1] (got {t})")
        return np.asarray(utilities * float(self.discount**t), dtype=np.float64)
