"""Discrete outcome spaces: issues with finite value lists, and their outcomes enumerated.

An :class:`OutcomeSpace` is the cartesian product of its issues' values. Outcomes are
**enumerated**: outcome index ``i`` corresponds to one tuple of values, in the order of
``itertools.product`` over the issues in declared order, last issue fastest (the shared scenario
format's ``outcome_encoding``). Engines and analysis work on indices and arrays; the space turns them
back into values.

A space is built from a scenario file's ``outcome_space`` (:meth:`OutcomeSpace.from_dict`) or from a
track's agenda (:meth:`OutcomeSpace.from_agenda`): a number becomes the grid
``minimum, minimum + step, ... <= maximum`` (refused over a size limit, naming the issue), a choice its
options, a boolean ``[False, True]``. Dates and free text have no finite grid and are refused, naming
the issue; this module does not model continuous spaces.

This module holds no preferences and plays no negotiation; it is pure.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeAlias

import numpy as np
from numpy.typing import NDArray

from backchannel.domain.agenda import Agenda, BooleanIssue, ChoiceIssue, Issue, NumberIssue
from backchannel.errors import ConfigurationError

__all__ = ["DEFAULT_MAX_OUTCOMES", "DEFAULT_MAX_VALUES", "DiscreteIssue", "IssueValue", "OutcomeSpace"]

IssueValue: TypeAlias = bool | int | float | str
"""One value of an issue (JSON scalars)."""

DEFAULT_MAX_VALUES = 10_000
"""The most values a number issue's grid may have unless the caller allows more."""

DEFAULT_MAX_OUTCOMES = 10_000_000
"""The most outcomes a space may enumerate unless the caller allows more."""


@dataclass(frozen=True, slots=True)
class DiscreteIssue:
    """An issue with a finite, ordered list of distinct values.

    Attributes:
        name: The issue's name (unique within a space).
        values: Its values, in order; ``values[j]`` is value position ``j``.
    """

    name: str
    values: tuple[IssueValue, ...]

    @property
    def numeric(self) -> bool:
        """Whether every value is a number or a boolean (so value functions may use them as numbers)."""
        return all(isinstance(v, (int, float)) for v in self.values)

    def position(self, value: IssueValue) -> int:
        """The position of ``value`` in :attr:`values`.

        Raises:
            ConfigurationError: ``value`` is not a value of this issue.
        """
        for j, candidate in enumerate(self.values):
            if candidate == value and type(candidate) is type(value):
                return j
        raise ConfigurationError(f"{self.name}: {value!r} is not one of its values")


@dataclass(frozen=True, slots=True)
class OutcomeSpace:
    """The cartesian product of discrete issues, enumerated (last issue fastest).

    Attributes:
        issues: The issues, in declared order.
    """

    issues: tuple[DiscreteIssue, ...]
    max_outcomes: int = DEFAULT_MAX_OUTCOMES

    def __post_init__(self) -> None:
        """Validate the space: at least one issue, each with values, distinct names, bounded size."""
        if not self.issues:
            raise ConfigurationError("issues: an outcome space needs at least one issue (no outcomes)")
        seen: set[str] = set()
        for k, issue in enumerate(self.issues):
            if not issue.values:
                raise ConfigurationError(
                    f"issues[{k}].values: issue {issue.name!r} has no values (no outcomes)"
                )
            if issue.name in seen:
                raise ConfigurationError(f"issues[{k}].name: duplicate issue name {issue.name!r}")
            seen.add(issue.name)
            _check_distinct(issue, f"issues[{k}].values")
        if self.n_outcomes > self.max_outcomes:
            raise ConfigurationError(
                f"issues: {self.n_outcomes} outcomes, more than the limit of {self.max_outcomes}"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """The number of values of each issue."""
        return tuple(len(issue.values) for issue in self.issues)

    @property
    def n_outcomes(self) -> int:
        """How many outcomes the space holds."""
        return math.prod(self.shape)

    @property
    def names(self) -> tuple[str, ...]:
        """The issue names, in order."""
        return tuple(issue.name for issue in self.issues)

    def positions(self, index: int) -> tuple[int, ...]:
        """The value positions of outcome ``index``.

        Raises:
            ConfigurationError: ``index`` is outside ``[0, n_outcomes)``.
        """
        if not 0 <= index < self.n_outcomes:
            raise ConfigurationError(f"index: outcome index {index} outside [0, {self.n_outcomes})")
        return tuple(int(p) for p in np.unravel_index(index, self.shape))

    def outcome(self, index: int) -> tuple[IssueValue, ...]:
        """The outcome (a tuple of values) at ``index``.

        Raises:
            ConfigurationError: ``index`` is outside ``[0, n_outcomes)``.
        """
        return tuple(issue.values[p] for issue, p in zip(self.issues, self.positions(index), strict=True))

    def index(self, outcome: Sequence[IssueValue] | Mapping[str, IssueValue]) -> int:
        """The index of an outcome given as a tuple in issue order or a mapping from issue name.

        Raises:
            ConfigurationError: Wrong length, a missing issue or a value not in its issue.
        """
        if isinstance(outcome, Mapping):
            missing = [name for name in self.names if name not in outcome]
            if missing or len(outcome) != len(self.issues):
                raise ConfigurationError(f"outcome: expected exactly the issues {list(self.names)}")
            outcome = [outcome[name] for name in self.names]
        if len(outcome) != len(self.issues):
            raise ConfigurationError(f"outcome: expected {len(self.issues)} values, got {len(outcome)}")
        positions = [issue.position(v) for issue, v in zip(self.issues, outcome, strict=True)]
        return int(np.ravel_multi_index(positions, self.shape))

    def values_matrix(self) -> NDArray[np.intp]:
        """Every outcome's value positions, vectorised.

        Returns:
            An ``(n_outcomes, n_issues)`` array whose row ``i`` holds, for each issue ``k``, the position
            in ``issues[k].values`` of outcome ``i``'s value (positions, not values, so that text options
            and numbers are handled alike; ``issues[k].values[row[k]]`` is the value). The array is
            shared between calls and read-only.
        """
        return _positions(self.shape)

    @classmethod
    def from_dict(cls, data: object, path: str = "outcome_space") -> OutcomeSpace:
        """Build a space from the scenario format's ``outcome_space`` object.

        ``{"type": "cartesian", "issues": [{"name": ..., "values": [...]}, ...], "n_outcomes": n}``
        (``n_outcomes`` optional; when given it must match).

        Raises:
            ConfigurationError: A malformed object, naming the JSON path.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{path}: expected an object")
        if data.get("type", "cartesian") != "cartesian":
            raise ConfigurationError(
                f"{path}.type: only 'cartesian' spaces are supported, got {data['type']!r}"
            )
        issues = data.get("issues")
        if not isinstance(issues, list) or not issues:
            raise ConfigurationError(f"{path}.issues: expected a non-empty list of issues (no outcomes)")
        space = cls(tuple(_issue_from_dict(item, f"{path}.issues[{k}]") for k, item in enumerate(issues)))
        declared = data.get("n_outcomes")
        if declared is not None and declared != space.n_outcomes:
            raise ConfigurationError(
                f"{path}.n_outcomes: says {declared}, the issues give {space.n_outcomes}"
            )
        return space

    @classmethod
    def from_agenda(
        cls, agenda: Agenda, *, max_values: int = DEFAULT_MAX_VALUES, max_outcomes: int = DEFAULT_MAX_OUTCOMES
    ) -> OutcomeSpace:
        """Build a discrete space from a track's agenda.

        Args:
            agenda: The agenda; its issues in order become the space's issues.
            max_values: The most grid points a number issue may have.
            max_outcomes: The most outcomes the space may have.

        Raises:
            ConfigurationError: An issue cannot be enumerated (a number without step, a grid over
                ``max_values``, a date or text issue), naming the issue; or no outcomes.
        """
        return cls(tuple(_issue_from_agenda(issue, max_values) for issue in agenda.issues), max_outcomes)


@functools.lru_cache(maxsize=64)
def _positions(shape: tuple[int, ...]) -> NDArray[np.intp]:
    """The position matrix of a shape, computed once and shared read-only."""
    matrix = np.indices(shape, dtype=np.intp).reshape(len(shape), -1).T.copy()
    matrix.flags.writeable = False
    return matrix


def _check_distinct(issue: DiscreteIssue, path: str) -> None:
    keys = [(type(v).__name__, v) for v in issue.values]
    if len(set(keys)) != len(keys):
        raise ConfigurationError(f"{path}: issue {issue.name!r} lists a value twice")


def _issue_from_dict(item: object, path: str) -> DiscreteIssue:
    if not isinstance(item, Mapping):
        raise ConfigurationError(f"{path}: expected an object with 'name' and 'values'")
    name, values = item.get("name"), item.get("values")
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"{path}.name: expected a non-empty string")
    if not isinstance(values, list) or not values:
        raise ConfigurationError(f"{path}.values: expected a non-empty list (no outcomes)")
    for j, value in enumerate(values):
        if not isinstance(value, (bool, int, float, str)) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise ConfigurationError(f"{path}.values[{j}]: expected a finite number, string or boolean")
    return DiscreteIssue(name, tuple(values))


def _issue_from_agenda(issue: Issue, max_values: int) -> DiscreteIssue:
    if isinstance(issue, NumberIssue):
        return DiscreteIssue(issue.name, _grid(issue, max_values))
    if isinstance(issue, ChoiceIssue):
        return DiscreteIssue(issue.name, tuple(issue.options))
    if isinstance(issue, BooleanIssue):
        return DiscreteIssue(issue.name, (False, True))
    raise ConfigurationError(
        f"{issue.name}: a {issue.kind} issue has no finite set of values; "
        "only number (with a step), one-of and boolean issues become outcome spaces"
    )


def _grid(issue: NumberIssue, max_values: int) -> tuple[float, ...]:
    if issue.step is None or issue.step <= 0:
        raise ConfigurationError(f"{issue.name}: a number issue needs a positive step to be enumerated")
    low, high, step = (Decimal(repr(x)) for x in (issue.minimum, issue.maximum, issue.step))
    count = int((high - low) // step) + 1
    if count > max_values:
        raise ConfigurationError(
            f"{issue.name}: the grid {issue.minimum}..{issue.maximum} step {issue.step} has {count} values, "
            f"more than the limit of {max_values}"
        )
    return tuple(float(low + j * step) for j in range(count))
